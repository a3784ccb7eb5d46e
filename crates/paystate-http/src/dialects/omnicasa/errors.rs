//! Omnicasa's error format: every failure the endpoints answer, with its `Code`, its HTTP status
//! and its `Message` in the three languages of `LanguageId`; the [`Refusal`] that answers one in
//! its route's envelope; and the one reading of the ledger's [`OrderStatusError`] as a failure.

use super::render::answer;
use super::wire::{MediaType, PaymentsResult, ReturnResult};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paystate_domain::DomainError;
use paystate_ledger::OrderStatusError;
use paystate_store::StoreError;

/// `LanguageId`: 1 NL, 2 FR, 3 EN; anything else (missing, 0, the sample's 4) is NL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Nl,
    Fr,
    En,
}

impl Language {
    pub fn from_id(id: Option<i64>) -> Self {
        match id {
            Some(2) => Self::Fr,
            Some(3) => Self::En,
            _ => Self::Nl,
        }
    }
}

/// Why an update was not done. `Code` 0 is success and never a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Unknown, wrong, revoked or expired secret, or a key limited to another dialect.
    Unauthorized,
    /// A valid key whose scope is read-only.
    Forbidden,
    UnsupportedMediaType,
    TooLarge,
    MalformedJson,
    MalformedXml,
    /// NUL characters, raw or escaped.
    Nul,
    /// A DOCTYPE, or an entity other than the five predefined ones.
    XmlEntity,
    InvalidOrderId,
    InvalidStatusId,
    InvalidPaidAt,
    InvalidLanguageId,
    InvalidIsWriteLogSql,
    OrderNotFound,
    NoPayment,
    /// The report contradicts a settled status; it was recorded and the payment flagged.
    Conflict,
    /// The order is closed or canceled, or the payment cannot take this change.
    NotAllowed,
    Busy,
    /// The tenant's `settings.omnicasa` hold a value paystate cannot use.
    Settings,
    Internal,
    /// Another method than POST on the update's route.
    MethodNotAllowed,
    /// Another method than GET on the read's route (`get-order`).
    GetOnly,
}

impl Failure {
    pub const ALL: [Failure; 22] = [
        Self::Unauthorized,
        Self::Forbidden,
        Self::UnsupportedMediaType,
        Self::TooLarge,
        Self::MalformedJson,
        Self::MalformedXml,
        Self::Nul,
        Self::XmlEntity,
        Self::InvalidOrderId,
        Self::InvalidStatusId,
        Self::InvalidPaidAt,
        Self::InvalidLanguageId,
        Self::InvalidIsWriteLogSql,
        Self::OrderNotFound,
        Self::NoPayment,
        Self::Conflict,
        Self::NotAllowed,
        Self::Busy,
        Self::Settings,
        Self::Internal,
        Self::MethodNotAllowed,
        Self::GetOnly,
    ];

    /// The `Code` of the envelope.
    pub fn code(self) -> i32 {
        match self {
            Self::Unauthorized => 1,
            Self::Forbidden => 2,
            Self::UnsupportedMediaType => 3,
            Self::TooLarge => 4,
            Self::MalformedJson | Self::MalformedXml | Self::Nul => 5,
            Self::XmlEntity => 6,
            Self::InvalidOrderId => 7,
            Self::InvalidStatusId => 8,
            Self::InvalidPaidAt => 9,
            Self::InvalidLanguageId | Self::InvalidIsWriteLogSql => 10,
            Self::OrderNotFound => 11,
            Self::NoPayment => 12,
            Self::Conflict => 13,
            Self::NotAllowed => 14,
            Self::Busy => 15,
            Self::Settings => 16,
            Self::Internal => 17,
            Self::MethodNotAllowed | Self::GetOnly => 18,
        }
    }

    /// The HTTP status, as ASP.NET Web API answers the same condition.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MalformedJson
            | Self::MalformedXml
            | Self::Nul
            | Self::XmlEntity
            | Self::InvalidOrderId
            | Self::InvalidStatusId
            | Self::InvalidPaidAt
            | Self::InvalidLanguageId
            | Self::InvalidIsWriteLogSql => StatusCode::BAD_REQUEST,
            Self::OrderNotFound | Self::NoPayment => StatusCode::NOT_FOUND,
            Self::Conflict | Self::NotAllowed => StatusCode::CONFLICT,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Settings | Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MethodNotAllowed | Self::GetOnly => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The `Message` of the envelope in `language`.
    pub fn message(self, language: Language) -> &'static str {
        let [nl, fr, en] = self.messages();
        match language {
            Language::Nl => nl,
            Language::Fr => fr,
            Language::En => en,
        }
    }

    /// The message in Dutch, French and English. One table, longer than a function should be,
    /// so that each message is read beside its translations.
    pub fn messages(self) -> [&'static str; 3] {
        match self {
            Self::Unauthorized => {
                ["De geheime sleutel is ongeldig.", "La clé secrète n'est pas valide.", "The secret key is not valid."]
            }
            Self::Forbidden => [
                "Deze sleutel mag geen betalingen bijwerken.",
                "Cette clé ne peut pas mettre à jour les paiements.",
                "This key may not update payments.",
            ],
            Self::UnsupportedMediaType => [
                "Niet-ondersteund inhoudstype: gebruik application/json, text/json, application/xml of text/xml (UTF-8).",
                "Type de contenu non pris en charge : utilisez application/json, text/json, application/xml ou text/xml (UTF-8).",
                "Unsupported content type: use application/json, text/json, application/xml or text/xml (UTF-8).",
            ],
            Self::TooLarge => [
                "De aanvraag is groter dan 1 MiB.",
                "Le corps de la requête dépasse 1 Mio.",
                "The request body is larger than 1 MiB.",
            ],
            Self::MalformedJson => [
                "De aanvraag is geen geldig JSON-object.",
                "Le corps de la requête n'est pas un objet JSON valide.",
                "The request body is not a valid JSON object.",
            ],
            Self::MalformedXml => [
                "De aanvraag is geen geldig UpdatePaymentOrderParameter-XML-document.",
                "Le corps de la requête n'est pas un document XML UpdatePaymentOrderParameter valide.",
                "The request body is not a valid UpdatePaymentOrderParameter XML document.",
            ],
            Self::Nul => [
                "De aanvraag bevat NUL-tekens.",
                "Le corps de la requête contient des caractères NUL.",
                "The request body contains NUL characters.",
            ],
            Self::XmlEntity => [
                "XML-documenttypedeclaraties (DOCTYPE) en andere entiteiten dan de vijf voorgedefinieerde worden niet aanvaard.",
                "Les déclarations de type de document XML (DOCTYPE) et les entités autres que les cinq prédéfinies ne sont pas acceptées.",
                "XML document type declarations (DOCTYPE) and entities other than the five predefined ones are not accepted.",
            ],
            Self::InvalidOrderId => [
                "OrderId is verplicht: 1 tot 200 tekens zonder stuurtekens.",
                "OrderId est obligatoire : 1 à 200 caractères sans caractères de contrôle.",
                "OrderId is required: 1 to 200 characters without control characters.",
            ],
            Self::InvalidStatusId => [
                "StatusId is verplicht en moet een geheel getal van 1 tot en met 8 zijn.",
                "StatusId est obligatoire et doit être un nombre entier de 1 à 8.",
                "StatusId is required and must be a whole number from 1 to 8.",
            ],
            Self::InvalidPaidAt => [
                "PaidAt moet een datum zijn in het formaat yyyy-MM-dd HH:mm:ss of ISO 8601.",
                "PaidAt doit être une date au format yyyy-MM-dd HH:mm:ss ou ISO 8601.",
                "PaidAt must be a date in the format yyyy-MM-dd HH:mm:ss or ISO 8601.",
            ],
            Self::InvalidLanguageId => [
                "LanguageId moet een geheel getal zijn.",
                "LanguageId doit être un nombre entier.",
                "LanguageId must be a whole number.",
            ],
            Self::InvalidIsWriteLogSql => [
                "IsWriteLogSQL moet true of false zijn.",
                "IsWriteLogSQL doit valoir true ou false.",
                "IsWriteLogSQL must be true or false.",
            ],
            Self::OrderNotFound => [
                "Er bestaat geen order met deze OrderId.",
                "Aucune commande n'existe avec cet OrderId.",
                "No order exists with this OrderId.",
            ],
            Self::NoPayment => [
                "De order heeft geen betaling om bij te werken.",
                "La commande n'a aucun paiement à mettre à jour.",
                "The order has no payment to update.",
            ],
            Self::Conflict => [
                "De gemelde status is in strijd met de definitieve status van de betaling; de melding is geregistreerd en de betaling is gemarkeerd voor controle.",
                "Le statut signalé contredit le statut définitif du paiement ; le signalement a été enregistré et le paiement marqué pour vérification.",
                "The reported status contradicts the payment's settled status; the report was recorded and the payment flagged for review.",
            ],
            Self::NotAllowed => [
                "De order of de betaling laat deze wijziging niet toe.",
                "La commande ou le paiement n'autorise pas cette modification.",
                "The order or the payment does not allow this change.",
            ],
            Self::Busy => [
                "De dienst is tijdelijk bezet; probeer het zo dadelijk opnieuw.",
                "Le service est momentanément occupé ; réessayez dans un instant.",
                "The service is busy; please retry shortly.",
            ],
            Self::Settings => [
                "De Omnicasa-instellingen van dit account zijn ongeldig; neem contact op met de beheerder.",
                "Les paramètres Omnicasa de ce compte ne sont pas valides ; contactez l'administrateur.",
                "The Omnicasa settings of this account are invalid; contact the administrator.",
            ],
            Self::Internal => [
                "Er is een interne fout opgetreden.",
                "Une erreur interne s'est produite.",
                "An internal error occurred.",
            ],
            Self::MethodNotAllowed => [
                "Deze bron ondersteunt enkel de HTTP-methode POST.",
                "Cette ressource ne prend en charge que la méthode HTTP POST.",
                "This resource supports only the HTTP method POST.",
            ],
            Self::GetOnly => [
                "Deze bron ondersteunt enkel de HTTP-methode GET.",
                "Cette ressource ne prend en charge que la méthode HTTP GET.",
                "This resource supports only the HTTP method GET.",
            ],
        }
    }
}

/// The envelope a failure is answered in: the update's `ReturnResultOfInt32` (`Value` 0) or the
/// read side's `ReturnResultOfPayments` (`Value` null).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    Update,
    Read,
}

/// A refused request, answered in its route's envelope, negotiated media type and language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub envelope: Envelope,
    pub media: MediaType,
    pub failure: Failure,
    pub language: Language,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (code, message) = (self.failure.code(), self.failure.message(self.language).to_owned());
        let body = match self.envelope {
            Envelope::Update => ReturnResult { success: false, code, message, value: 0 }.to_bytes(self.media),
            Envelope::Read => PaymentsResult { success: false, code, message, value: None }.to_bytes(self.media),
        };
        answer(self.media, self.failure.status(), body)
    }
}

/// The ledger's refusals of a report (and of its read) in Omnicasa's table.
impl From<OrderStatusError> for Failure {
    fn from(error: OrderStatusError) -> Self {
        match error {
            OrderStatusError::OrderNotFound => Failure::OrderNotFound,
            OrderStatusError::NoPayment => Failure::NoPayment,
            OrderStatusError::Settings { tenant, setting } => {
                // The reporter cannot fix the tenant's settings: it is told only that they are
                // invalid; the administrator learns which one from the log.
                let key = setting.key;
                tracing::warn!(tenant = %tenant, setting = key, "the tenant's settings.omnicasa.{key} is invalid");
                Failure::Settings
            }
            OrderStatusError::Store(error) => stored(error),
        }
    }
}

fn stored(error: StoreError) -> Failure {
    match error {
        StoreError::Busy | StoreError::VersionConflict | StoreError::Duplicate(_) => Failure::Busy,
        StoreError::Domain(DomainError::Invalid { field: "reference", .. }) => Failure::InvalidOrderId,
        StoreError::Domain(
            DomainError::NotAllowed { .. }
            | DomainError::OrderNotOpen(_)
            | DomainError::Deleted
            | DomainError::ExceedsAvailable { .. },
        ) => Failure::NotAllowed,
        other => {
            tracing::error!(error = %other, "an Omnicasa request failed");
            Failure::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_failure_has_a_nonzero_code_an_error_status_and_three_distinct_messages() {
        for failure in Failure::ALL {
            assert_ne!(failure.code(), 0, "{failure:?}");
            assert!(failure.status().is_client_error() || failure.status().is_server_error(), "{failure:?}");
            let [nl, fr, en] = failure.messages();
            assert!(!nl.is_empty() && !fr.is_empty() && !en.is_empty(), "{failure:?}");
            assert_eq!(HashSet::from([nl, fr, en]).len(), 3, "{failure:?} is translated");
            assert_eq!(failure.message(Language::Fr), fr);
        }
        let messages: HashSet<&str> = Failure::ALL.iter().map(|f| f.message(Language::En)).collect();
        assert_eq!(messages.len(), Failure::ALL.len(), "each failure says what it is");
    }

    #[test]
    fn language_ids() {
        assert_eq!(Language::from_id(Some(1)), Language::Nl);
        assert_eq!(Language::from_id(Some(2)), Language::Fr);
        assert_eq!(Language::from_id(Some(3)), Language::En);
        for other in [None, Some(0), Some(4), Some(-1), Some(i64::MAX)] {
            assert_eq!(Language::from_id(other), Language::Nl);
        }
    }
}
