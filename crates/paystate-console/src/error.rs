//! How the console answers what went wrong: an HTML page with a 4xx for the visitor's mistakes
//! (never a 5xx for bad input), and a logged 5xx only when the store fails.

use crate::layout;
use crate::session::Signed;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use paystate_domain::DomainError;
use paystate_store::StoreError;

/// A page that says what went wrong, with the status that fits.
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

pub type PageResult<T = Response> = Result<T, PageError>;

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        PageError { status, title, message: message.into() }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", "Nothing of your tenant has this id.")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Not allowed", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Check the form", message)
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => PageError::not_found(),
            StoreError::Duplicate(field) => {
                PageError::new(StatusCode::CONFLICT, "Already exists", format!("This {field} is already taken."))
            }
            StoreError::Domain(DomainError::NotAllowed { status, action }) => PageError::new(
                StatusCode::CONFLICT,
                "Not possible now",
                format!("A {action} is not possible while the payment is {status}."),
            ),
            StoreError::Domain(DomainError::Deleted) => {
                PageError::new(StatusCode::CONFLICT, "Not possible now", "The payment is deleted.")
            }
            StoreError::Domain(error) => PageError::invalid(error.to_string()),
            StoreError::InvalidValue(message) => PageError::invalid(message),
            StoreError::Busy | StoreError::VersionConflict => {
                PageError::new(StatusCode::SERVICE_UNAVAILABLE, "Busy", "The database is busy. Try again in a moment.")
            }
            other => {
                tracing::error!(error = %other, "a console page failed");
                PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "Something failed", "The server could not answer.")
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = html! {
            section.card.problem role="alert" {
                h1 { (self.title) }
                p { (self.message) }
                p { a href="/dashboard" { "Back to the overview" } }
            }
        };
        (self.status, layout::bare(self.title, body)).into_response()
    }
}

/// Unknown console paths: the login page for visitors, a 404 page for signed-in people.
pub async fn not_found_page(_signed: Signed) -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "Not found", "The console has no such page.")
}
