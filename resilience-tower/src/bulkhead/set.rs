use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use resilience_core::bulkhead::{Bulkhead, BulkheadSet};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::future::{start, ResponseFuture};

static NEXT_POOLS: AtomicU32 = AtomicU32::new(1);

/// Up to this many pools, names are looked up by a linear scan.
const LINEAR_SCAN: usize = 8;

/// The pools of a [`BulkheadSet`], indexed for routing: by name (a scan of
/// the few names, a binary search when there are many) or by a [`PoolId`]
/// resolved once at start-up (an index). Cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::bulkhead::{BulkheadSet, BulkheadSetConfig};
/// use resilience_tower::bulkhead::Pools;
///
/// let pools = Pools::new(BulkheadSet::new(resilience_core::presets::model_registry::bulkheads()).unwrap());
/// let api = pools.id("api").unwrap();
/// assert_eq!(pools.name(api), Some("api"));
/// assert_eq!(pools.get(api).unwrap().max_concurrent(), 100);
/// let err = pools.id("batch").unwrap_err();
/// assert_eq!(err.to_string(), "no bulkhead pool `batch` in this set; pools are: api, dashboard, internal");
/// ```
#[derive(Clone)]
pub struct Pools {
    inner: Arc<PoolsInner>,
}

struct PoolsInner {
    tag: u32,
    set: BulkheadSet,
    /// In name order (the set's order), so names can be binary searched.
    pools: Vec<(Arc<str>, Bulkhead)>,
}

impl Pools {
    /// Indexes the pools of `set` (a [`BulkheadSet`] handle, or an
    /// `Arc<BulkheadSet>`, the form before sets were handles).
    pub fn new(set: impl Into<BulkheadSet>) -> Self {
        let set = set.into();
        let pools = set
            .iter()
            .map(|(name, b)| (Arc::from(name), b.clone()))
            .collect();
        Pools {
            inner: Arc::new(PoolsInner {
                tag: NEXT_POOLS.fetch_add(1, Ordering::Relaxed),
                set,
                pools,
            }),
        }
    }

    /// The set.
    pub fn set(&self) -> &BulkheadSet {
        &self.inner.set
    }

    /// The id of the pool called `name`: resolve once, route often.
    pub fn id(&self, name: &str) -> Result<PoolId, UnknownPool> {
        let index = self.index_of(name).ok_or_else(|| self.unknown(name))?;
        Ok(PoolId {
            pools: self.inner.tag,
            index,
        })
    }

    /// The pool with this id (`None` for an id from other [`Pools`]).
    #[inline]
    pub fn get(&self, id: PoolId) -> Option<&Bulkhead> {
        if id.pools != self.inner.tag {
            return None;
        }
        self.inner.pools.get(id.index as usize).map(|(_, b)| b)
    }

    /// The name of the pool with this id.
    pub fn name(&self, id: PoolId) -> Option<&str> {
        if id.pools != self.inner.tag {
            return None;
        }
        self.inner.pools.get(id.index as usize).map(|(n, _)| &**n)
    }

    /// The pool called `name`.
    #[inline]
    pub fn by_name(&self, name: &str) -> Option<&Bulkhead> {
        let i = self.index_of(name)?;
        self.inner.pools.get(i as usize).map(|(_, b)| b)
    }

    #[inline]
    fn index_of(&self, name: &str) -> Option<u32> {
        let pools = &self.inner.pools;
        // A handful of pools (the usual case) is faster to scan than to
        // bisect: equality tests the length before the bytes.
        let i = if pools.len() <= LINEAR_SCAN {
            pools.iter().position(|(n, _)| **n == *name)?
        } else {
            pools.binary_search_by(|(n, _)| (**n).cmp(name)).ok()?
        };
        u32::try_from(i).ok()
    }

    #[cold]
    fn unknown(&self, name: &str) -> UnknownPool {
        UnknownPool::Name {
            name: name.to_string(),
            known: self.known(),
        }
    }

    fn known(&self) -> String {
        let names: Vec<&str> = self.inner.pools.iter().map(|(n, _)| &**n).collect();
        names.join(", ")
    }
}

impl fmt::Debug for Pools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pools")
            .field("set", &self.inner.set)
            .finish_non_exhaustive()
    }
}

/// A pre-resolved handle to one pool of a [`Pools`]; see [`Pools::id`].
///
/// An id remembers which [`Pools`] made it: used with another one it is
/// rejected with [`UnknownPool::ForeignId`] instead of picking some pool.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::bulkhead::{BulkheadSet, BulkheadSetConfig};
/// use resilience_tower::bulkhead::{PoolId, Pools};
/// let set = BulkheadSet::new(resilience_core::presets::model_registry::bulkheads()).unwrap();
/// let a = Pools::new(set.clone());
/// let b = Pools::new(set);
/// let id: PoolId = a.id("internal").unwrap();
/// assert!(a.get(id).is_some());
/// assert!(b.get(id).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolId {
    pools: u32,
    index: u32,
}

/// A request was routed to a pool the set does not have. The request was
/// not started.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::bulkhead::{BulkheadSet, BulkheadSetConfig};
/// use resilience_tower::bulkhead::{Pools, UnknownPool};
/// let pools = Pools::new(BulkheadSet::new(resilience_core::presets::model_registry::bulkheads()).unwrap());
/// assert!(matches!(pools.id("gpu"), Err(UnknownPool::Name { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnknownPool {
    /// The classifier named a pool that is not configured.
    #[error("no bulkhead pool `{name}` in this set; pools are: {known}")]
    Name {
        /// The name the classifier returned.
        name: String,
        /// The configured pools.
        known: String,
    },
    /// The classifier returned a [`PoolId`] resolved from another [`Pools`].
    #[error(
        "the pool id was resolved from another bulkhead set; resolve ids with this layer's `Pools::id` (pools are: {known})"
    )]
    ForeignId {
        /// The configured pools.
        known: String,
    },
}

/// How a [`BulkheadSetLayer`] picks the pool of a request.
///
/// Implemented by [`ByName`] and [`ById`], made by
/// [`BulkheadSetLayer::by_name`] and [`BulkheadSetLayer::by_id`].
pub trait Route<Req> {
    /// The pool for `req`.
    fn route<'p>(&self, req: &Req, pools: &'p Pools) -> Result<&'p Bulkhead, UnknownPool>;
}

/// Routes by the pool name a closure returns; see
/// [`BulkheadSetLayer::by_name`].
#[derive(Clone, Copy)]
pub struct ByName<F>(F);

/// Routes by the [`PoolId`] a closure returns; see
/// [`BulkheadSetLayer::by_id`].
#[derive(Clone, Copy)]
pub struct ById<F>(F);

impl<F> fmt::Debug for ByName<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ByName(..)")
    }
}

impl<F> fmt::Debug for ById<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ById(..)")
    }
}

impl<Req, F> Route<Req> for ByName<F>
where
    F: Fn(&Req) -> &str,
{
    #[inline]
    fn route<'p>(&self, req: &Req, pools: &'p Pools) -> Result<&'p Bulkhead, UnknownPool> {
        let name = (self.0)(req);
        pools.by_name(name).ok_or_else(|| pools.unknown(name))
    }
}

impl<Req, F> Route<Req> for ById<F>
where
    F: Fn(&Req) -> PoolId,
{
    #[inline]
    fn route<'p>(&self, req: &Req, pools: &'p Pools) -> Result<&'p Bulkhead, UnknownPool> {
        pools
            .get((self.0)(req))
            .ok_or_else(|| UnknownPool::ForeignId {
                known: pools.known(),
            })
    }
}

/// Routes each request to a named pool of a [`BulkheadSet`] (the model-registry preset's
/// `dashboard` / `api` / `internal`), so one kind of traffic cannot starve
/// the others; the set's shared cap and priorities apply as in core.
///
/// Pick the pool by name ([`by_name`](Self::by_name), a lookup among the
/// pool names per call) or by a [`PoolId`] resolved once
/// ([`by_id`](Self::by_id), an index). A name the set does not have fails
/// the request with [`UnknownPool`], naming the pools that exist.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::bulkhead::{BulkheadSet, BulkheadSetConfig};
/// use resilience_tower::bulkhead::{BulkheadSetLayer, Pools, UnknownPool};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// struct Req { path: &'static str, internal: bool }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let set = BulkheadSet::new(resilience_core::presets::model_registry::bulkheads()).unwrap();
/// let layer = BulkheadSetLayer::by_name(Pools::new(set.clone()), |r: &Req| {
///     if r.internal { "internal" } else if r.path.starts_with("/ui") { "dashboard" } else { "api" }
/// });
/// let mut svc = layer.layer(service_fn(|r: Req| async move { Ok::<_, tower::BoxError>(r.path) }));
/// let ok = svc.ready().await.unwrap().call(Req { path: "/ui/models", internal: false }).await;
/// assert_eq!(ok.unwrap(), "/ui/models");
///
/// // Ids: resolve once, route with an index.
/// let pools = Pools::new(set);
/// let (api, internal) = (pools.id("api").unwrap(), pools.id("internal").unwrap());
/// let layer = BulkheadSetLayer::by_id(pools, move |r: &Req| if r.internal { internal } else { api });
/// # let _ = layer;
/// # }
/// ```
#[derive(Clone)]
pub struct BulkheadSetLayer<R> {
    pools: Pools,
    route: R,
}

impl<R> fmt::Debug for BulkheadSetLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadSetLayer")
            .field("pools", &self.pools)
            .finish_non_exhaustive()
    }
}

impl<F> BulkheadSetLayer<ByName<F>> {
    /// Routes each request to the pool named by `route(&request)`.
    pub fn by_name<Req>(pools: Pools, route: F) -> Self
    where
        F: Fn(&Req) -> &str,
    {
        BulkheadSetLayer {
            pools,
            route: ByName(route),
        }
    }
}

impl<F> BulkheadSetLayer<ById<F>> {
    /// Routes each request to the pool `route(&request)` returns.
    pub fn by_id<Req>(pools: Pools, route: F) -> Self
    where
        F: Fn(&Req) -> PoolId,
    {
        BulkheadSetLayer {
            pools,
            route: ById(route),
        }
    }
}

impl<R> BulkheadSetLayer<R> {
    /// The pools.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }
}

impl<S, R: Clone> Layer<S> for BulkheadSetLayer<R> {
    type Service = BulkheadSetService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadSetService {
            inner,
            pools: self.pools.clone(),
            route: self.route.clone(),
        }
    }
}

/// A service behind the pools of a [`BulkheadSet`]; made by
/// [`BulkheadSetLayer`].
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::bulkhead::{BulkheadFull, BulkheadSet, BulkheadSetConfig};
/// use resilience_tower::bulkhead::{BulkheadSetLayer, BulkheadSetService, Pools};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let set = BulkheadSet::new(resilience_core::presets::model_registry::bulkheads()).unwrap();
/// let mut svc: BulkheadSetService<_, _> = BulkheadSetLayer::by_name(Pools::new(set), |p: &&'static str| *p)
///     .layer(service_fn(|p: &'static str| async move { Ok::<_, tower::BoxError>(p.len()) }));
/// assert_eq!(svc.ready().await.unwrap().call("internal").await.unwrap(), 8);
/// assert_eq!(svc.pools().by_name("internal").unwrap().in_flight(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct BulkheadSetService<S, R> {
    inner: S,
    pools: Pools,
    route: R,
}

impl<S: fmt::Debug, R> fmt::Debug for BulkheadSetService<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadSetService")
            .field("inner", &self.inner)
            .field("pools", &self.pools)
            .finish_non_exhaustive()
    }
}

impl<S, R> BulkheadSetService<S, R> {
    /// The pools.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, Req> Service<Req> for BulkheadSetService<S, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    R: Route<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.route.route(&req, &self.pools) {
            Ok(bulkhead) => start(bulkhead, &mut self.inner, req),
            Err(unknown) => ResponseFuture::rejected(unknown.into()),
        }
    }
}
