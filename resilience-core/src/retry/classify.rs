//! Error classification: which failures are worth retrying, which fail fast,
//! and which tell us how long to wait.

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// What kind of failure an error is, as far as retrying is concerned.
///
/// The built-in classes follow common practice: timeouts, dropped connections,
/// transient unavailability and rate limiting are worth retrying; invalid
/// requests, authentication failures and missing resources fail fast,
/// because the same request would fail the same way again.
///
/// | class | retryable | request provably never sent |
/// |---|---|---|
/// | `timeout` | yes | no |
/// | `connection_reset` | yes | no |
/// | `connect_failed` | yes | **yes** |
/// | `transient` | yes | no |
/// | `rate_limited` | yes | no |
/// | `server_error` | yes | no |
/// | `invalid_request` | no | – |
/// | `authentication` | no | – |
/// | `not_found` | no | – |
/// | `permanent` | no | – |
/// | `circuit_open` | no (opt in) | **yes** |
///
/// Only `connect_failed` and `circuit_open` prove the request never reached
/// the server, so they are the only classes a non-idempotent operation is
/// retried on (see [`Idempotency`]). A policy can narrow or widen the
/// retryable set with [`ClassSet`].
///
/// `circuit_open` is a local circuit breaker's refusal. It is not retried
/// by default: the breaker's job is to fail fast, and a retry that waits
/// for the half-open trial holds the caller for the whole open duration.
/// Add it to `retry_on` to wait for the trial instead (the wait is the
/// breaker's `retry_after`, still bounded by the policy's deadline and
/// `max_retry_after`).
///
/// ```
/// use resilience_core::retry::ErrorClass;
/// assert!(ErrorClass::RateLimited.is_retryable());
/// assert!(!ErrorClass::NotFound.is_retryable());
/// assert!(ErrorClass::ConnectFailed.request_never_sent());
/// assert_eq!(ErrorClass::ConnectionReset.as_str(), "connection_reset");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// The call took too long (network timeout, HTTP 408/504, lock timeout).
    Timeout,
    /// The connection broke after the request may have been sent (reset,
    /// broken pipe, unexpected EOF, connection lost).
    ConnectionReset,
    /// The connection could not be established (refused, unreachable, DNS):
    /// the request provably never left.
    ConnectFailed,
    /// The dependency is temporarily unavailable (HTTP 502/503, deadlock,
    /// overloaded, "try again").
    Transient,
    /// The dependency asked us to slow down (HTTP 429).
    RateLimited,
    /// A generic server-side failure (HTTP 500): retryable for idempotent
    /// calls only, since the server may have done part of the work.
    ServerError,
    /// The request is malformed or violates a constraint (HTTP 400/422,
    /// SQL syntax error, constraint violation).
    InvalidRequest,
    /// Missing or rejected credentials (HTTP 401/403).
    Authentication,
    /// The resource does not exist (HTTP 404/410).
    NotFound,
    /// Any other failure that retrying will not fix.
    Permanent,
    /// A local circuit breaker refused the call (it is open, or half-open
    /// with every trial taken): the request never left. Not retryable by
    /// default, so an open breaker fails fast.
    CircuitOpen,
}

impl ErrorClass {
    /// Every class, in declaration order.
    pub const ALL: [ErrorClass; 11] = [
        ErrorClass::Timeout,
        ErrorClass::ConnectionReset,
        ErrorClass::ConnectFailed,
        ErrorClass::Transient,
        ErrorClass::RateLimited,
        ErrorClass::ServerError,
        ErrorClass::InvalidRequest,
        ErrorClass::Authentication,
        ErrorClass::NotFound,
        ErrorClass::Permanent,
        ErrorClass::CircuitOpen,
    ];

    /// Whether the class is retryable by default (the default retryable set).
    pub fn is_retryable(self) -> bool {
        ClassSet::DEFAULT_RETRYABLE.contains(self)
    }

    /// Whether this failure proves the request never reached the server,
    /// which is what makes retrying a non-idempotent call safe.
    pub fn request_never_sent(self) -> bool {
        matches!(self, ErrorClass::ConnectFailed | ErrorClass::CircuitOpen)
    }

    /// What to do about a failure of this class that a policy did not
    /// retry (the end of [`RetryError::NotRetryable`](super::RetryError)'s
    /// message).
    ///
    /// ```
    /// use resilience_core::retry::ErrorClass;
    /// assert!(ErrorClass::CircuitOpen.not_retried_advice().contains("retry_after"));
    /// assert!(ErrorClass::NotFound.not_retried_advice().contains("retry_on"));
    /// ```
    pub fn not_retried_advice(self) -> &'static str {
        match self {
            ErrorClass::CircuitOpen => {
                "the circuit breaker is open, so the call failed fast without reaching the \
                 dependency; its `retry_after` says when it admits a trial call (add \
                 `circuit_open` to `retry_on` to wait for the trial instead of failing fast)"
            }
            _ => "fix the request or widen `retry_on`",
        }
    }

    /// The config and metrics label of the class (`"rate_limited"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::ConnectionReset => "connection_reset",
            ErrorClass::ConnectFailed => "connect_failed",
            ErrorClass::Transient => "transient",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::ServerError => "server_error",
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::Authentication => "authentication",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Permanent => "permanent",
            ErrorClass::CircuitOpen => "circuit_open",
        }
    }

    /// Position in [`ErrorClass::ALL`] (a dense index for tables).
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`ErrorClass`]es: the classes a policy retries.
///
/// In configs it is a list: `retry_on: [timeout, transient, connection_reset]`.
///
/// ```
/// use resilience_core::retry::{ClassSet, ErrorClass};
/// let s: ClassSet = serde_json::from_str(r#"["timeout","rate_limited"]"#).unwrap();
/// assert!(s.contains(ErrorClass::Timeout));
/// assert!(!s.contains(ErrorClass::Transient));
/// assert!(ClassSet::DEFAULT_RETRYABLE.contains(ErrorClass::ServerError));
/// let s = ClassSet::empty().with(ErrorClass::Transient);
/// assert_eq!(s.iter().collect::<Vec<_>>(), [ErrorClass::Transient]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<ErrorClass>", into = "Vec<ErrorClass>")]
pub struct ClassSet(u16);

impl ClassSet {
    /// The default retryable classes: timeout, connection reset, connect
    /// failure, transient, rate limited, server error.
    pub const DEFAULT_RETRYABLE: ClassSet = ClassSet(
        (1 << ErrorClass::Timeout as u16)
            | (1 << ErrorClass::ConnectionReset as u16)
            | (1 << ErrorClass::ConnectFailed as u16)
            | (1 << ErrorClass::Transient as u16)
            | (1 << ErrorClass::RateLimited as u16)
            | (1 << ErrorClass::ServerError as u16),
    );

    /// No class.
    pub const fn empty() -> ClassSet {
        ClassSet(0)
    }

    /// This set plus `class`.
    #[must_use]
    pub fn with(self, class: ErrorClass) -> ClassSet {
        ClassSet(self.0 | class.bit())
    }

    /// This set minus `class`.
    #[must_use]
    pub fn without(self, class: ErrorClass) -> ClassSet {
        ClassSet(self.0 & !class.bit())
    }

    /// Whether `class` is in the set.
    pub fn contains(self, class: ErrorClass) -> bool {
        self.0 & class.bit() != 0
    }

    /// The classes in the set, in [`ErrorClass::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = ErrorClass> {
        ErrorClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl Default for ClassSet {
    fn default() -> Self {
        ClassSet::DEFAULT_RETRYABLE
    }
}

impl FromIterator<ErrorClass> for ClassSet {
    fn from_iter<I: IntoIterator<Item = ErrorClass>>(iter: I) -> Self {
        iter.into_iter().fold(ClassSet::empty(), ClassSet::with)
    }
}

impl From<Vec<ErrorClass>> for ClassSet {
    fn from(v: Vec<ErrorClass>) -> Self {
        v.into_iter().collect()
    }
}

impl From<ClassSet> for Vec<ErrorClass> {
    fn from(s: ClassSet) -> Self {
        s.iter().collect()
    }
}

impl fmt::Debug for ClassSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The verdict on one failure: its class and, when the dependency said so,
/// how long to wait before retrying (`Retry-After`).
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Classification, ErrorClass};
/// let c = Classification::from(ErrorClass::RateLimited).with_retry_after(Duration::from_secs(3));
/// assert_eq!(c.class, ErrorClass::RateLimited);
/// assert_eq!(c.retry_after, Some(Duration::from_secs(3)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Classification {
    /// The class of the failure.
    pub class: ErrorClass,
    /// The wait the dependency asked for, if any. The policy waits at least
    /// this long (and gives up if it is longer than its `max_retry_after`).
    pub retry_after: Option<Duration>,
}

impl Classification {
    /// A classification without a requested wait.
    pub const fn new(class: ErrorClass) -> Classification {
        Classification {
            class,
            retry_after: None,
        }
    }

    /// The same classification with a requested wait.
    #[must_use]
    pub const fn with_retry_after(mut self, after: Duration) -> Classification {
        self.retry_after = Some(after);
        self
    }
}

impl From<ErrorClass> for Classification {
    fn from(class: ErrorClass) -> Self {
        Classification::new(class)
    }
}

/// Decides the [`Classification`] of an error of type `E`.
///
/// Implemented for every `Fn(&E) -> Classification + Send + Sync`, so a
/// closure is a classifier; [`DefaultClassifier`] uses the error's own
/// [`ClassifyError`] impl.
///
/// ```
/// use resilience_core::retry::{Classification, Classifier, ErrorClass};
///
/// #[derive(Debug)]
/// enum DbError { Deadlock, LockTimeout, ConnectionLost, ConstraintViolation, Syntax }
///
/// // The workflow runtime's database rules: retry deadlocks, lock timeouts and lost
/// // connections; never constraint violations or syntax errors.
/// let db = |e: &DbError| -> Classification {
///     match e {
///         DbError::Deadlock => ErrorClass::Transient,
///         DbError::LockTimeout => ErrorClass::Timeout,
///         DbError::ConnectionLost => ErrorClass::ConnectionReset,
///         DbError::ConstraintViolation | DbError::Syntax => ErrorClass::InvalidRequest,
///     }
///     .into()
/// };
/// assert!(db.classify(&DbError::Deadlock).class.is_retryable());
/// assert!(!db.classify(&DbError::Syntax).class.is_retryable());
/// ```
pub trait Classifier<E: ?Sized>: Send + Sync {
    /// Classifies one error.
    fn classify(&self, error: &E) -> Classification;
}

impl<E: ?Sized, F> Classifier<E> for F
where
    F: Fn(&E) -> Classification + Send + Sync,
{
    fn classify(&self, error: &E) -> Classification {
        self(error)
    }
}

/// An error type that knows its own [`Classification`]; used through
/// [`DefaultClassifier`].
///
/// Implemented for [`ErrorClass`], [`Classification`] and
/// [`std::io::Error`] (see [`IoClassifier`] for the mapping).
///
/// ```
/// use resilience_core::retry::{Classification, ClassifyError, ErrorClass};
///
/// #[derive(Debug)]
/// struct UpstreamError { status: u16 }
/// impl ClassifyError for UpstreamError {
///     fn classify(&self) -> Classification {
///         match self.status {
///             503 => ErrorClass::Transient.into(),
///             _ => ErrorClass::Permanent.into(),
///         }
///     }
/// }
/// assert_eq!(UpstreamError { status: 503 }.classify().class, ErrorClass::Transient);
/// ```
///
/// Named apart from [`Classifier`] (an object that classifies errors of
/// another type) and from the tower crate's outcome classifier, which
/// judges whole responses.
pub trait ClassifyError {
    /// This error's classification.
    fn classify(&self) -> Classification;
}

/// Renamed to [`ClassifyError`]. A type implementing this trait implements
/// [`ClassifyError`] too, so existing impls keep working until 0.2.
#[deprecated(since = "0.1.1", note = "renamed to `ClassifyError`")]
#[doc(hidden)]
pub trait Classify {
    /// This error's classification.
    fn classify(&self) -> Classification;
}

#[allow(deprecated)]
impl<T: Classify + ?Sized> ClassifyError for T {
    fn classify(&self) -> Classification {
        Classify::classify(self)
    }
}

impl ClassifyError for ErrorClass {
    fn classify(&self) -> Classification {
        Classification::new(*self)
    }
}

impl ClassifyError for Classification {
    fn classify(&self) -> Classification {
        *self
    }
}

impl ClassifyError for io::Error {
    fn classify(&self) -> Classification {
        IoClassifier.classify(self)
    }
}

/// Classifies errors that implement [`ClassifyError`].
///
/// ```
/// use resilience_core::retry::{Classifier, DefaultClassifier, ErrorClass};
/// assert_eq!(DefaultClassifier.classify(&ErrorClass::Timeout).class, ErrorClass::Timeout);
/// let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(DefaultClassifier.classify(&io).class, ErrorClass::ConnectFailed);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<E: ClassifyError + ?Sized> Classifier<E> for DefaultClassifier {
    fn classify(&self, error: &E) -> Classification {
        error.classify()
    }
}

/// Classifies [`std::io::Error`] by its kind.
///
/// | `io::ErrorKind` | class |
/// |---|---|
/// | `TimedOut` | `timeout` |
/// | `ConnectionReset`, `ConnectionAborted`, `BrokenPipe`, `UnexpectedEof` | `connection_reset` |
/// | `ConnectionRefused`, `NotConnected`, `AddrNotAvailable`, `HostUnreachable`, `NetworkUnreachable`, `NetworkDown` | `connect_failed` |
/// | `Interrupted`, `WouldBlock`, `ResourceBusy` | `transient` |
/// | `NotFound` | `not_found` |
/// | `PermissionDenied` | `authentication` |
/// | `InvalidInput`, `InvalidData` | `invalid_request` |
/// | anything else | `permanent` |
///
/// ```
/// use std::io::{Error, ErrorKind};
/// use resilience_core::retry::{Classifier, ErrorClass, IoClassifier};
/// assert_eq!(IoClassifier.classify(&Error::from(ErrorKind::TimedOut)).class, ErrorClass::Timeout);
/// assert_eq!(IoClassifier.classify(&Error::other("disk on fire")).class, ErrorClass::Permanent);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoClassifier;

impl Classifier<io::Error> for IoClassifier {
    fn classify(&self, error: &io::Error) -> Classification {
        use io::ErrorKind as K;
        let class = match error.kind() {
            K::TimedOut => ErrorClass::Timeout,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                ErrorClass::ConnectionReset
            }
            K::ConnectionRefused
            | K::NotConnected
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown => ErrorClass::ConnectFailed,
            K::Interrupted | K::WouldBlock | K::ResourceBusy => ErrorClass::Transient,
            K::NotFound => ErrorClass::NotFound,
            K::PermissionDenied => ErrorClass::Authentication,
            K::InvalidInput | K::InvalidData => ErrorClass::InvalidRequest,
            _ => ErrorClass::Permanent,
        };
        Classification::new(class)
    }
}

/// Classifies HTTP responses by status code, honouring `Retry-After`.
///
/// By default the common retryable statuses 408, 429, 500, 502, 503 and
/// 504 are retried: 408 and 504 as `timeout`, 429 as `rate_limited`, 500
/// as `server_error`, 502 and 503 as `transient`. Other statuses map to
/// fail-fast classes: 401/403/407 `authentication`, 404/410 `not_found`,
/// other 4xx `invalid_request`, other 5xx `permanent`. Statuses below 400
/// are not failures (`None`).
///
/// `Retry-After` is read for any retryable status, in both forms RFC 9110
/// allows: delta-seconds (`"120"`) and an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`), the latter relative to the `now`
/// you pass (a parameter, so tests need no wall clock). An unparsable value
/// is ignored; a date in the past means "now".
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use resilience_core::retry::{ErrorClass, HttpStatusClassifier};
///
/// let http = HttpStatusClassifier::new();
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00 UTC
/// let c = http.classify(503, Some("Wed, 21 Oct 2015 07:28:30 GMT"), now).unwrap();
/// assert_eq!(c.class, ErrorClass::Transient);
/// assert_eq!(c.retry_after, Some(Duration::from_secs(30)));
/// let c = http.classify(429, Some("120"), now).unwrap();
/// assert_eq!(c.retry_after, Some(Duration::from_secs(120)));
/// assert_eq!(http.classify(404, None, now).unwrap().class, ErrorClass::NotFound);
/// assert_eq!(http.classify(200, None, now), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HttpStatusClassifier {
    /// Bit `s - 400` is set when status `s` (400..=999) is retried: a
    /// plain value, so copying a classifier into every call is free.
    retryable: [u64; 10],
}

impl fmt::Debug for HttpStatusClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let statuses: Vec<u16> = (400..1000).filter(|s| self.is_retryable(*s)).collect();
        f.debug_struct("HttpStatusClassifier")
            .field("retryable", &statuses)
            .finish()
    }
}

impl HttpStatusClassifier {
    /// The default retryable statuses.
    pub const DEFAULT_RETRYABLE: [u16; 6] = [408, 429, 500, 502, 503, 504];

    /// A classifier retrying [`Self::DEFAULT_RETRYABLE`].
    pub fn new() -> HttpStatusClassifier {
        Self::with_retryable(Self::DEFAULT_RETRYABLE)
    }

    /// A classifier retrying exactly `statuses`. A retryable status outside
    /// the default set is classed `transient`.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use resilience_core::retry::{ErrorClass, HttpStatusClassifier};
    /// let http = HttpStatusClassifier::with_retryable([409, 503]);
    /// let now = SystemTime::now();
    /// assert_eq!(http.classify(409, None, now).unwrap().class, ErrorClass::Transient);
    /// assert_eq!(http.classify(500, None, now).unwrap().class, ErrorClass::Permanent);
    /// ```
    ///
    /// Only failure statuses (400 to 999) can be retried; others in
    /// `statuses` are ignored (a status below 400 is not a failure).
    pub fn with_retryable(statuses: impl IntoIterator<Item = u16>) -> HttpStatusClassifier {
        let mut retryable = [0u64; 10];
        for s in statuses {
            if (400..1000).contains(&s) {
                let bit = usize::from(s - 400);
                retryable[bit / 64] |= 1 << (bit % 64);
            }
        }
        HttpStatusClassifier { retryable }
    }

    /// Whether `status` is retried.
    #[inline]
    pub fn is_retryable(&self, status: u16) -> bool {
        if !(400..1000).contains(&status) {
            return false;
        }
        let bit = usize::from(status - 400);
        self.retryable[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// Classifies a response; `None` when `status` is below 400 (not a
    /// failure). `retry_after` is the raw `Retry-After` header value.
    pub fn classify(
        &self,
        status: u16,
        retry_after: Option<&str>,
        now: SystemTime,
    ) -> Option<Classification> {
        if status < 400 {
            return None;
        }
        if self.is_retryable(status) {
            let class = match status {
                408 | 504 => ErrorClass::Timeout,
                429 => ErrorClass::RateLimited,
                500 => ErrorClass::ServerError,
                _ => ErrorClass::Transient,
            };
            let after = retry_after.and_then(|v| parse_retry_after(v, now));
            return Some(Classification {
                class,
                retry_after: after,
            });
        }
        let class = match status {
            401 | 403 | 407 => ErrorClass::Authentication,
            404 | 410 => ErrorClass::NotFound,
            400..=499 => ErrorClass::InvalidRequest,
            _ => ErrorClass::Permanent,
        };
        Some(Classification::new(class))
    }
}

impl Default for HttpStatusClassifier {
    fn default() -> Self {
        HttpStatusClassifier::new()
    }
}

/// Parses a `Retry-After` header value: delta-seconds or an HTTP date
/// (relative to `now`). `None` if it is neither; a date in the past gives
/// zero.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use resilience_core::retry::parse_retry_after;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
/// assert_eq!(parse_retry_after(" 5 ", now), Some(Duration::from_secs(5)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("-1", now), None);
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than u64 holds: saturate rather than reject.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether an operation may be repeated without changing the outcome.
///
/// An idempotent call is retried on any retryable class. A non-idempotent
/// call (a POST that charges a card, a webhook that sends an email) is only
/// retried when the failure proves the request never left
/// ([`ErrorClass::request_never_sent`]: `connect_failed`), as the workflow runtime
/// require: after a timeout or a 5xx the server may already have done the
/// work. Give such calls an idempotency key to make them retryable.
///
/// ```
/// use resilience_core::retry::{ErrorClass, Idempotency};
/// assert!(Idempotency::NonIdempotent.allows_retry(ErrorClass::ConnectFailed));
/// assert!(!Idempotency::NonIdempotent.allows_retry(ErrorClass::Timeout));
/// assert!(Idempotency::Idempotent.allows_retry(ErrorClass::Timeout));
/// assert_eq!(Idempotency::for_http_method("GET"), Idempotency::Idempotent);
/// assert_eq!(Idempotency::for_http_method("PUT"), Idempotency::NonIdempotent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Idempotency {
    /// Safe to repeat.
    #[default]
    Idempotent,
    /// Repeating may duplicate side effects.
    NonIdempotent,
}

impl Idempotency {
    /// Whether a failure of `class` may be retried under this idempotency
    /// (before checking whether the class is retryable at all).
    pub fn allows_retry(self, class: ErrorClass) -> bool {
        match self {
            Idempotency::Idempotent => true,
            Idempotency::NonIdempotent => class.request_never_sent(),
        }
    }

    /// The workflow runtime's rule for HTTP methods: reads (`GET`, `HEAD`, `OPTIONS`,
    /// `TRACE`) are idempotent; `POST`, `PUT`, `DELETE`, `PATCH` and
    /// unknown methods are not. This is stricter than RFC 9110 (which calls
    /// `PUT` and `DELETE` idempotent) because real handlers often are not.
    pub fn for_http_method(method: &str) -> Idempotency {
        if ["GET", "HEAD", "OPTIONS", "TRACE"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
        {
            Idempotency::Idempotent
        } else {
            Idempotency::NonIdempotent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_retryable_set_matches_the_platform_presets() {
        let retryable: Vec<_> = ErrorClass::ALL
            .iter()
            .filter(|c| c.is_retryable())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            retryable,
            [
                "timeout",
                "connection_reset",
                "connect_failed",
                "transient",
                "rate_limited",
                "server_error"
            ]
        );
        for c in [
            ErrorClass::InvalidRequest,
            ErrorClass::Authentication,
            ErrorClass::NotFound,
            ErrorClass::Permanent,
        ] {
            assert!(!c.is_retryable());
        }
        for (i, c) in ErrorClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(c.to_string(), c.as_str());
        }
    }

    #[test]
    fn class_set_round_trips() {
        let s = ClassSet::empty()
            .with(ErrorClass::Timeout)
            .with(ErrorClass::Permanent);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"["timeout","permanent"]"#);
        assert_eq!(serde_json::from_str::<ClassSet>(&json).unwrap(), s);
        assert!(!s.without(ErrorClass::Timeout).contains(ErrorClass::Timeout));
        assert_eq!(format!("{s:?}"), "{Timeout, Permanent}");
        assert_eq!(ClassSet::default(), ClassSet::DEFAULT_RETRYABLE);
        assert!(serde_json::from_str::<ClassSet>(r#"["sometimes"]"#).is_err());
    }

    #[test]
    fn http_statuses() {
        let h = HttpStatusClassifier::default();
        let now = SystemTime::UNIX_EPOCH;
        let class = |s| h.classify(s, None, now).map(|c| c.class);
        assert_eq!(class(408), Some(ErrorClass::Timeout));
        assert_eq!(class(429), Some(ErrorClass::RateLimited));
        assert_eq!(class(500), Some(ErrorClass::ServerError));
        assert_eq!(class(502), Some(ErrorClass::Transient));
        assert_eq!(class(503), Some(ErrorClass::Transient));
        assert_eq!(class(504), Some(ErrorClass::Timeout));
        assert_eq!(class(400), Some(ErrorClass::InvalidRequest));
        assert_eq!(class(422), Some(ErrorClass::InvalidRequest));
        assert_eq!(class(401), Some(ErrorClass::Authentication));
        assert_eq!(class(403), Some(ErrorClass::Authentication));
        assert_eq!(class(404), Some(ErrorClass::NotFound));
        assert_eq!(class(410), Some(ErrorClass::NotFound));
        assert_eq!(class(501), Some(ErrorClass::Permanent));
        assert_eq!(class(999), Some(ErrorClass::Permanent));
        assert_eq!(class(204), None);
        assert_eq!(class(304), None);
        for s in HttpStatusClassifier::DEFAULT_RETRYABLE {
            assert!(class(s).unwrap().is_retryable(), "{s}");
        }
        // Retry-After is only read on retryable statuses.
        assert_eq!(h.classify(400, Some("5"), now).unwrap().retry_after, None);
        assert_eq!(
            h.classify(503, Some("5"), now).unwrap().retry_after,
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            h.classify(503, Some("later"), now).unwrap().retry_after,
            None
        );
    }

    #[test]
    fn retry_after_forms() {
        // 1994-11-06T08:49:37Z
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        for date in [
            "Sun, 06 Nov 1994 08:49:57 GMT",  // IMF-fixdate
            "Sunday, 06-Nov-94 08:49:57 GMT", // RFC 850
            "Sun Nov  6 08:49:57 1994",       // asctime
        ] {
            assert_eq!(
                parse_retry_after(date, now),
                Some(Duration::from_secs(20)),
                "{date}"
            );
        }
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", "  ", "1.5", "+3", "3s", "Sun, 32 Nov 1994 08:49:57 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn io_mapping() {
        use io::ErrorKind as K;
        let c = |k: K| IoClassifier.classify(&io::Error::from(k)).class;
        assert_eq!(c(K::TimedOut), ErrorClass::Timeout);
        assert_eq!(c(K::ConnectionReset), ErrorClass::ConnectionReset);
        assert_eq!(c(K::BrokenPipe), ErrorClass::ConnectionReset);
        assert_eq!(c(K::ConnectionRefused), ErrorClass::ConnectFailed);
        assert_eq!(c(K::WouldBlock), ErrorClass::Transient);
        assert_eq!(c(K::NotFound), ErrorClass::NotFound);
        assert_eq!(c(K::PermissionDenied), ErrorClass::Authentication);
        assert_eq!(c(K::InvalidData), ErrorClass::InvalidRequest);
        assert_eq!(c(K::Other), ErrorClass::Permanent);
    }

    #[test]
    fn idempotency_rules() {
        for class in ErrorClass::ALL {
            assert!(Idempotency::Idempotent.allows_retry(class));
            assert_eq!(
                Idempotency::NonIdempotent.allows_retry(class),
                matches!(class, ErrorClass::ConnectFailed | ErrorClass::CircuitOpen)
            );
        }
        for m in ["get", "HEAD", "Options", "TRACE"] {
            assert_eq!(Idempotency::for_http_method(m), Idempotency::Idempotent);
        }
        for m in ["POST", "PUT", "DELETE", "PATCH", "BREW"] {
            assert_eq!(Idempotency::for_http_method(m), Idempotency::NonIdempotent);
        }
    }
}
