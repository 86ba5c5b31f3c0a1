use resilience_core::retry::Idempotency;

/// How a [`RetryLayer`](super::RetryLayer) keeps a copy of a request for
/// the next attempt.
///
/// A retry needs the request again after the first attempt consumed it, so
/// the layer copies it before each attempt that may be followed by another.
/// `None` means "this request cannot be copied" (a streaming body that has
/// no replayable buffer): the request is still **sent once**, and if that
/// attempt fails in a way the policy would have retried, the caller gets
/// [`RequestNotCloneable`](super::RequestNotCloneable), which says so and
/// carries the original error (its `source`, and
/// [`last`](super::RequestNotCloneable::last)). A failure the policy would
/// not have retried anyway (say a `not_found`) gets its usual
/// [`RetryError`](resilience_core::retry::RetryError).
///
/// Implemented by [`CloneAll`] for `Clone` requests and by closures
/// `Fn(&Req) -> Option<Req>`.
///
/// ```
/// use resilience_tower::retry::CloneRequest;
///
/// /// A request whose body is either buffered or a one-shot stream.
/// enum Body { Buffered(std::sync::Arc<[u8]>), Stream(std::fs::File) }
/// struct Upload { path: String, body: Body }
///
/// let copy = |req: &Upload| match &req.body {
///     Body::Buffered(bytes) => Some(Upload { path: req.path.clone(), body: Body::Buffered(bytes.clone()) }),
///     Body::Stream(_) => None, // sent once, never retried
/// };
/// let buffered = Upload { path: "/a".into(), body: Body::Buffered(b"hi".to_vec().into()) };
/// assert!(copy.clone_request(&buffered).is_some());
/// ```
pub trait CloneRequest<Req> {
    /// A copy of `req` for another attempt, or `None` if it has none.
    fn clone_request(&self, req: &Req) -> Option<Req>;
}

/// Copies requests with [`Clone`]; the default. Keep requests cheap to clone
/// (`Arc`- or `Bytes`-backed bodies): every call clones its request once
/// before the first attempt.
///
/// ```
/// use resilience_tower::retry::{CloneAll, CloneRequest};
/// assert_eq!(CloneAll.clone_request(&"ping".to_string()), Some("ping".to_string()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneAll;

impl<Req: Clone> CloneRequest<Req> for CloneAll {
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Never copies: every request is sent once. For requests that cannot be
/// cloned (a streaming body, axum's `Request<Body>`) in a stack that is
/// shared with cloneable ones; a failure the policy would retry comes back
/// as [`RequestNotCloneable`](super::RequestNotCloneable) holding the
/// original error.
///
/// ```
/// use resilience_tower::retry::{CloneRequest, NoClone};
/// struct Stream;
/// assert!(NoClone.clone_request(&Stream).is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoClone;

impl<Req> CloneRequest<Req> for NoClone {
    #[inline]
    fn clone_request(&self, _req: &Req) -> Option<Req> {
        None
    }
}

impl<Req, F> CloneRequest<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        self(req)
    }
}

/// Whether a given request may be repeated: decides, per request, the
/// [`Idempotency`] the retry policy applies. A non-idempotent request is
/// retried only after a failure that proves it never left
/// (`connect_failed`: connection refused, bulkhead full; `circuit_open`).
///
/// `None` keeps the policy's default. Implemented by [`PolicyIdempotency`]
/// (always `None`, the default), by closures `Fn(&Req) -> Idempotency`, and
/// with feature `http` by `HttpMethodIdempotency`.
///
/// ```
/// use resilience_core::retry::Idempotency;
/// use resilience_tower::retry::RequestIdempotency;
///
/// struct Call { op: &'static str, idempotency_key: Option<String> }
/// // Writes are safe to repeat only with an idempotency key.
/// let rule = |c: &Call| match (c.op, &c.idempotency_key) {
///     ("read", _) | (_, Some(_)) => Idempotency::Idempotent,
///     _ => Idempotency::NonIdempotent,
/// };
/// let charge = Call { op: "charge", idempotency_key: None };
/// assert_eq!(rule.idempotency(&charge), Some(Idempotency::NonIdempotent));
/// ```
pub trait RequestIdempotency<Req> {
    /// The idempotency of `req`, or `None` for the policy's default.
    fn idempotency(&self, req: &Req) -> Option<Idempotency>;
}

/// Every request gets the retry policy's idempotency; the default.
///
/// ```
/// use resilience_tower::retry::{PolicyIdempotency, RequestIdempotency};
/// assert_eq!(PolicyIdempotency.idempotency(&42), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyIdempotency;

impl<Req> RequestIdempotency<Req> for PolicyIdempotency {
    #[inline]
    fn idempotency(&self, _: &Req) -> Option<Idempotency> {
        None
    }
}

impl<Req, F> RequestIdempotency<Req> for F
where
    F: Fn(&Req) -> Idempotency,
{
    #[inline]
    fn idempotency(&self, req: &Req) -> Option<Idempotency> {
        Some(self(req))
    }
}

/// For `http::Request`s (feature `http`): a request with an
/// `Idempotency-Key` header is idempotent (the server deduplicates it, the
/// convention of payment and order APIs); otherwise the rule by method of
/// [`Idempotency::for_http_method`]: `GET`, `HEAD`, `OPTIONS`, `TRACE` are
/// idempotent, `POST`, `PUT`, `DELETE`, `PATCH` are not.
///
/// ```
/// use resilience_core::retry::Idempotency;
/// use resilience_tower::retry::{HttpMethodIdempotency, RequestIdempotency};
/// let post = http::Request::post("/charge").body(()).unwrap();
/// assert_eq!(HttpMethodIdempotency.idempotency(&post), Some(Idempotency::NonIdempotent));
/// let keyed = http::Request::post("/charge").header("Idempotency-Key", "c-1").body(()).unwrap();
/// assert_eq!(HttpMethodIdempotency.idempotency(&keyed), Some(Idempotency::Idempotent));
/// ```
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpMethodIdempotency;

#[cfg(feature = "http")]
impl<B> RequestIdempotency<http::Request<B>> for HttpMethodIdempotency {
    fn idempotency(&self, req: &http::Request<B>) -> Option<Idempotency> {
        const IDEMPOTENCY_KEY: http::HeaderName = http::HeaderName::from_static("idempotency-key");
        let by_method = Idempotency::for_http_method(req.method().as_str());
        if by_method == Idempotency::NonIdempotent && req.headers().contains_key(IDEMPOTENCY_KEY) {
            return Some(Idempotency::Idempotent);
        }
        Some(by_method)
    }
}
