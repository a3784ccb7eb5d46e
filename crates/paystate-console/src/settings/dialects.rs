//! The dialects' settings as the settings page shows them: each dialect's name, what it is,
//! and each setting's label, how it is entered, its default and what it does, in one line.

/// How a setting is entered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zone,
    Switch,
    Currency,
    /// One value per line.
    List,
    Text,
}

pub struct Setting {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// What applies when the setting is absent.
    pub default: &'static str,
    /// What it does, in one line.
    pub does: &'static str,
}

pub struct Dialect {
    pub name: &'static str,
    pub title: &'static str,
    /// Which vendor API it is, in one line.
    pub about: &'static str,
    pub settings: &'static [Setting],
}

pub const DIALECTS: [Dialect; 4] = [
    Dialect {
        name: "omnicasa",
        title: "Omnicasa",
        about: "Omnicasa API v3: a back office's payment orders (POST /payment/update-order/{secretKey}).",
        settings: &[
            Setting {
                key: "timezone",
                label: "Time zone",
                kind: Kind::Zone,
                default: "Europe/Brussels",
                does: "The zone of Omnicasa's wall-clock times (a PaidAt without an offset).",
            },
            Setting {
                key: "create_unknown_orders",
                label: "Create unknown orders",
                kind: Kind::Switch,
                default: "no",
                does: "Creates an order (and its receipt) that Omnicasa reports but paystate does not know, instead of refusing it.",
            },
            Setting {
                key: "currency",
                label: "Currency",
                kind: Kind::Currency,
                default: "EUR",
                does: "The currency of the orders Omnicasa's call creates (the call names none).",
            },
        ],
    },
    Dialect {
        name: "norce",
        title: "Norce Checkout",
        about: "Norce Checkout's update-payment hook, called with the whole order on every change.",
        settings: &[Setting {
            key: "merchants",
            label: "Merchant ids",
            kind: Kind::List,
            default: "none: every hook is refused",
            does: "The x-merchant ids this tenant owns, matched exactly; a hook for another merchant is refused (404).",
        }],
    },
    Dialect {
        name: "gormic",
        title: "Gormic OM",
        about: "Gormic Order Management and POS: receipts and refunds of orders (/v1/om/payments).",
        settings: &[Setting {
            key: "organization_id",
            label: "Organization id",
            kind: Kind::Text,
            default: "none: only the tenant id",
            does: "An alias the shop may send as organization-id; the tenant id keeps working beside it.",
        }],
    },
    Dialect {
        name: "teljoy",
        title: "Teljoy",
        about: "A WooCommerce shop's Teljoy-style plugin reporting an order's payment status.",
        settings: &[Setting {
            key: "verify_trust",
            label: "Verify trust values",
            kind: Kind::Switch,
            default: "yes",
            does: "Checks each status report's trust_Value and trust_Seed; off makes them optional and unchecked.",
        }],
    },
];
