//! `paystate user …`: console users from the command line, for the first admin of a tenant and
//! for scripts. A generated password is printed once; `--password-stdin` reads one instead.

use crate::config;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use paystate_domain::{Actor, Role, TenantId};
use paystate_ledger::Ledger;
use paystate_store::{StoreError, UserRecord};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a console user; prints the generated password once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (one line) instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the tenant's console users.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a console user's role (viewer, operator or admin); recorded as `user.updated`.
    Role {
        #[arg(long)]
        tenant: String,
        /// The user's e-mail address.
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        email: Option<String>,
        /// The user's id (usr_…).
        #[arg(long)]
        user: Option<String>,
        /// viewer, operator or admin.
        #[arg(long)]
        role: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable a console user; their sessions end at once.
    Disable {
        #[arg(long)]
        tenant: String,
        /// The user's e-mail address.
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        email: Option<String>,
        /// The user's id (usr_…).
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn view(user: &UserRecord) -> serde_json::Value {
    serde_json::json!({
        "user_id": user.id,
        "email": user.email,
        "role": user.role.as_str(),
        "disabled": user.disabled_at.is_some(),
        "created_at": user.created_at,
    })
}

fn explain(error: StoreError, tenant: &TenantId) -> anyhow::Error {
    match error {
        StoreError::NotFound => anyhow::anyhow!("no such tenant or user in tenant {tenant}"),
        StoreError::Duplicate(_) => anyhow::anyhow!("tenant {tenant} already has a user with this e-mail address"),
        other => other.into(),
    }
}

pub async fn run(database: &config::Database, command: UserCommand) -> Result<()> {
    let tenant_id = |raw: &str| TenantId::parse(raw).with_context(|| format!("{raw:?} is not a tenant id (ten_…)"));
    let ledger = Ledger::new(config::open_store(database, config::Role::Tool).await?);
    match command {
        UserCommand::Create { tenant, email, role, password_stdin, json } => {
            let tenant = tenant_id(&tenant)?;
            let role = Role::parse(&role).context("the role is viewer, operator or admin")?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
                let password = line.trim_end_matches(['\r', '\n']).to_owned();
                if password.is_empty() {
                    bail!("no password on standard input");
                }
                Some(password)
            } else {
                None
            };
            let created = ledger
                .create_user(&Actor::cli(tenant.clone(), "user create"), &email, role, password, None)
                .await
                .map_err(|e| explain(e, &tenant))?;
            let user = &created.user;
            if json {
                let body = serde_json::json!({
                    "user_id": user.id, "email": user.email, "role": user.role.as_str(), "password": created.password,
                });
                println!("{body}");
            } else {
                println!("user     {}\nemail    {}\nrole     {}", user.id, user.email, user.role);
                if let Some(password) = &created.password {
                    println!("password {password}\n(the password is shown once: hand it over now)");
                }
            }
        }
        UserCommand::List { tenant, json } => {
            let tenant = tenant_id(&tenant)?;
            let users = ledger.users(&tenant).await.map_err(|e| explain(e, &tenant))?;
            if json {
                println!("{}", serde_json::json!({"data": users.iter().map(view).collect::<Vec<_>>()}));
            } else {
                for user in &users {
                    let state = if user.disabled_at.is_some() { "disabled" } else { "active" };
                    println!("{}  {:<8}  {:<8}  {}", user.id, user.role, state, user.email);
                }
            }
        }
        UserCommand::Role { tenant, email, user, role, json } => {
            let tenant = tenant_id(&tenant)?;
            let role = Role::parse(&role).context("the role is viewer, operator or admin")?;
            let key = user.or(email).context("name the user with --email or --user")?;
            let changed = ledger
                .set_role(&Actor::cli(tenant.clone(), "user role"), &key, role)
                .await
                .map_err(|e| explain(e, &tenant))?;
            if json {
                println!("{}", view(&changed));
            } else {
                println!("{} ({}) is now {}", changed.email, changed.id, changed.role);
            }
        }
        UserCommand::Disable { tenant, email, user, json } => {
            let tenant = tenant_id(&tenant)?;
            let key = user.or(email).context("name the user with --email or --user")?;
            let disabled = ledger
                .disable_user(&Actor::cli(tenant.clone(), "user disable"), &key)
                .await
                .map_err(|e| explain(e, &tenant))?;
            if json {
                println!("{}", view(&disabled));
            } else {
                println!("disabled {} ({}); their sessions have ended", disabled.email, disabled.id);
            }
        }
    }
    Ok(())
}
