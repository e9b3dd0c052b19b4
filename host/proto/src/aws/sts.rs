//! The part of AWS STS the AWS endpoint speaks: `GetCallerIdentity` in the query protocol
//! (`Action=GetCallerIdentity&Version=2011-06-15`, form-encoded in a `POST /` body or in
//! the query string of a presigned `GET`), answered in XML as STS answers it, errors
//! included (`<ErrorResponse><Error><Type>…<Code>…<Message>…`).

use alloc::format;
use alloc::string::String;

/// The STS API version the endpoint speaks.
pub const VERSION: &str = "2011-06-15";
/// The XML namespace of STS answers.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Whether a request to the AWS endpoint is an STS call rather than a KMS one: no
/// `X-Amz-Target`, and a form-encoded body or an `Action` in the query string.
#[must_use]
pub fn is_sts(content_type: Option<&[u8]>, has_target: bool, query: &str) -> bool {
    if has_target {
        return false;
    }
    let form = content_type.is_some_and(|t| {
        t.len() >= 33
            && t.get(..33)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"application/x-www-form-urlencoded"))
    });
    form || query
        .split('&')
        .any(|pair| pair.starts_with("Action=") || pair == "Action")
}

/// An STS action the endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `GetCallerIdentity`.
    GetCallerIdentity,
}

/// An STS error: its code, HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    /// `<Code>`.
    pub code: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// `<Message>`.
    pub message: String,
}

impl StsError {
    /// An error `code` answered with `status`.
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    /// The error as STS writes it.
    #[must_use]
    pub fn to_xml(&self, request_id: &str) -> String {
        let kind = if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            escape(self.code),
            escape(&self.message),
            escape(request_id)
        )
    }
}

/// The action of a call, from its parameters (the form body's and the query string's, the
/// `X-Amz-*` ones included and ignored).
///
/// # Errors
/// `MissingAction` without `Action`, `InvalidAction` for another action or version (each
/// with STS's message).
pub fn action<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Action, StsError> {
    let (mut action, mut version) = (None, None);
    for (key, value) in params {
        match key {
            "Action" => action = Some(value),
            "Version" => version = Some(value),
            _ => {}
        }
    }
    let action = action.ok_or_else(|| StsError::new("MissingAction", 400, "Missing Action"))?;
    let version = version.unwrap_or_default();
    let short = |text: &str| -> String { text.chars().take(64).collect() };
    if version != VERSION {
        return Err(StsError::new(
            "InvalidAction",
            400,
            format!(
                "Could not find operation {} for version {}",
                short(action),
                short(version)
            ),
        ));
    }
    match action {
        "GetCallerIdentity" => Ok(Action::GetCallerIdentity),
        other => Err(StsError::new(
            "InvalidAction",
            400,
            format!(
                "Could not find operation {} for version {VERSION}",
                short(other)
            ),
        )),
    }
}

/// `GetCallerIdentity`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `arn:aws:iam::<account>:user/<principal>`.
    pub arn: String,
    /// The caller's unique id (here, the principal's name).
    pub user_id: String,
    /// The 12-digit account.
    pub account: String,
}

impl CallerIdentity {
    /// The answer as STS writes it.
    #[must_use]
    pub fn to_xml(&self, request_id: &str) -> String {
        format!(
            "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    \
             <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  \
             </GetCallerIdentityResult>\n  <ResponseMetadata>\n    \
             <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
            escape(&self.arn),
            escape(&self.user_id),
            escape(&self.account),
            escape(request_id)
        )
    }
}

/// `text` with `& < > " '` as XML entities, and control characters other than tab, line
/// feed and carriage return (which XML 1.0 cannot carry) as `?`.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_caller_identity_of_2011_06_15_is_an_action() {
        let call = [("Action", "GetCallerIdentity"), ("Version", VERSION)];
        assert_eq!(action(call), Ok(Action::GetCallerIdentity));
        assert_eq!(
            action([("Version", VERSION)]).unwrap_err().code,
            "MissingAction"
        );
        let other = action([("Action", "AssumeRole"), ("Version", VERSION)]).unwrap_err();
        assert_eq!(other.code, "InvalidAction");
        assert!(other.message.contains("AssumeRole"), "{other:?}");
        let old = action([("Action", "GetCallerIdentity"), ("Version", "2010-01-01")]);
        assert_eq!(old.unwrap_err().status, 400);
    }

    #[test]
    fn sts_calls_are_told_from_kms_calls() {
        let form: &[u8] = b"application/x-www-form-urlencoded; charset=utf-8";
        assert!(is_sts(Some(form), false, ""));
        assert!(!is_sts(Some(form), true, ""), "X-Amz-Target makes it KMS");
        assert!(!is_sts(Some(b"application/x-amz-json-1.1"), false, ""));
        assert!(is_sts(
            None,
            false,
            "Action=GetCallerIdentity&Version=2011-06-15"
        ));
        assert!(!is_sts(None, false, "X-Amz-Action=x"));
    }

    #[test]
    fn answers_are_escaped_xml() {
        let identity = CallerIdentity {
            arn: "arn:aws:iam::111122223333:user/a&b".into(),
            user_id: "a<b".into(),
            account: "111122223333".into(),
        };
        let xml = identity.to_xml("r\u{1}");
        assert!(
            xml.contains("<Arn>arn:aws:iam::111122223333:user/a&amp;b</Arn>"),
            "{xml}"
        );
        assert!(xml.contains("<UserId>a&lt;b</UserId>"), "{xml}");
        assert!(xml.contains("<RequestId>r?</RequestId>"), "{xml}");
        let error = StsError::new("SignatureDoesNotMatch", 403, "\"x\"").to_xml("1");
        assert!(error.contains("<Type>Sender</Type>"), "{error}");
        assert!(
            error.contains("<Message>&quot;x&quot;</Message>"),
            "{error}"
        );
    }
}
