//! Spot manager: the training platform's rules and cost-cap properties.

use std::time::Duration;

use proptest::prelude::*;
use resilience_scaling::spot::{
    CostInput, PreemptionAction, RequeuePriority, SpotManager, SpotQuote,
};

fn mgr() -> SpotManager {
    SpotManager::from_yaml(include_str!("../presets/spot.yaml")).unwrap()
}

#[test]
fn preemption_threshold_is_strictly_more_than_60s() {
    let s = mgr();
    let at60 = s.on_preemption_warning(Duration::from_secs(60), &[1]);
    assert_eq!(
        (at60[0].action, at60[0].requeue),
        (PreemptionAction::EmergencySave, RequeuePriority::Urgent)
    );
    let at61 = s.on_preemption_warning(Duration::from_secs(61), &[1, 2, 3]);
    assert_eq!(at61.len(), 3);
    assert!(at61
        .iter()
        .all(|p| p.action == PreemptionAction::Checkpoint && p.requeue == RequeuePriority::High));
}

#[test]
fn within_budget_keeps_spot() {
    let d = mgr().cost_control(&CostInput {
        budget_remaining: 10_000.0,
        hours_remaining: 10.0,
        on_demand_nodes: 3,
        on_demand_price: 3.0,
        spot_nodes: 50,
        spot_price: 1.0,
    });
    assert!(!d.over_budget);
    assert_eq!(d.spot_nodes, 50);
}

#[test]
fn unusable_budget_inputs_never_cut_capacity() {
    for (budget, hours) in [
        (f64::NAN, 10.0),
        (100.0, f64::NAN),
        (f64::INFINITY, 10.0),
        (100.0, 0.0),
    ] {
        let d = mgr().cost_control(&CostInput {
            budget_remaining: budget,
            hours_remaining: hours,
            on_demand_nodes: 3,
            on_demand_price: 3.0,
            spot_nodes: 50,
            spot_price: 1.0,
        });
        assert!(
            !d.over_budget && d.spot_nodes == 50,
            "{budget} {hours}: {d:?}"
        );
    }
}

#[test]
fn no_eligible_pool_leaves_nodes_unplaced() {
    let q = SpotQuote {
        instance_type: "a100".into(),
        zone: "us-east-1a".into(),
        price: 2.9,
        available: true,
    };
    let (placed, unplaced) = mgr().diversify(4, &[q]);
    assert!(placed.is_empty());
    assert_eq!(unplaced, 4);
}

proptest! {
    #[test]
    fn cost_cap_holds_when_spot_can_absorb_it(
        budget in 0.0f64..100_000.0, hours in 0.1f64..720.0,
        od in 0u32..50, od_price in 0.5f64..10.0, spot in 0u32..500, spot_price in 0.1f64..5.0,
    ) {
        let input = CostInput { budget_remaining: budget, hours_remaining: hours, on_demand_nodes: od,
            on_demand_price: od_price, spot_nodes: spot, spot_price };
        let d = mgr().cost_control(&input);
        prop_assert!(d.spot_nodes <= spot);
        if d.over_budget {
            let new_rate = f64::from(od) * od_price + f64::from(d.spot_nodes) * spot_price;
            let od_cost = f64::from(od) * od_price;
            if od_cost <= d.hourly_limit * 0.9 {
                prop_assert!(new_rate <= d.hourly_limit * 0.9 + 1e-6);
            } else {
                prop_assert_eq!(d.spot_nodes, 0);
            }
        }
    }

    #[test]
    fn fleet_split_and_floor(total in 0u32..10_000) {
        let s = mgr();
        let p = s.plan_fleet(total);
        prop_assert_eq!(p.on_demand + p.spot, total);
        prop_assert!(p.on_demand >= 3.min(total));
        prop_assert!(f64::from(p.on_demand) >= (f64::from(total) * 0.2).min(f64::from(total)) - 1e-9);
    }

    #[test]
    fn diversify_places_all_nodes_evenly(nodes in 0u32..500, prices in prop::collection::vec(0.1f64..0.69, 1..9)) {
        let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
        let market: Vec<SpotQuote> = prices.iter().enumerate().map(|(i, p)| SpotQuote {
            instance_type: "a10g".into(), zone: zones[i % 3].into(), price: *p, available: true,
        }).collect();
        let (placed, unplaced) = mgr().diversify(nodes, &market);
        prop_assert_eq!(unplaced, 0);
        prop_assert_eq!(placed.iter().map(|p| p.nodes).sum::<u32>(), nodes);
        let max = placed.iter().map(|p| p.nodes).max().unwrap_or(0);
        let min = placed.iter().map(|p| p.nodes).min().unwrap_or(0);
        prop_assert!(max - min <= 1);
    }
}

mod split_and_tiers {
    use super::mgr;
    use resilience_scaling::gpu::{GpuRouter, Workload};
    use resilience_scaling::spot::{JobTier, Pool, PoolAvailability};

    #[test]
    fn the_gpu_cluster_runs_30_percent_on_demand_70_percent_spot() {
        let p = mgr().plan_fleet(100);
        assert_eq!(
            (p.on_demand, p.spot),
            (30, 70),
            "on-demand pool 30 %, spot pool 70 %"
        );
        let p = mgr().plan_fleet(33);
        assert_eq!(
            (p.on_demand, p.spot),
            (10, 23),
            "30 % of 33 rounds up to 10"
        );
    }

    #[test]
    fn the_20_percent_on_demand_floor_stays_a_floor() {
        let mut cfg = mgr().config().clone();
        cfg.on_demand_share = Some(0.1);
        let s = resilience_scaling::spot::SpotManager::new(cfg).unwrap();
        assert_eq!(
            s.plan_fleet(100).on_demand,
            20,
            "a 10 % share cannot go below the 20 % floor"
        );
        assert_eq!(
            mgr().plan_fleet(5).on_demand,
            3,
            "max(3, 20 %): 3 on-demand nodes even in a fleet of 5"
        );
        let mut bad = mgr().config().clone();
        bad.on_demand_share = Some(1.5);
        let e = resilience_scaling::spot::SpotManager::new(bad).unwrap_err();
        assert_eq!(e.field(), Some("on_demand_share"));
    }

    #[test]
    fn enterprise_on_demand_first_business_mixed_starter_spot_only() {
        let s = mgr();
        let both = PoolAvailability {
            on_demand_free: 5,
            on_demand_reserved: 3,
            spot_free: 5,
        };
        assert_eq!(
            s.route(JobTier::Enterprise, both),
            Some(Pool::OnDemand),
            "Enterprise: on-demand first"
        );
        assert_eq!(
            s.route(JobTier::Business, both),
            Some(Pool::Spot),
            "Business: mixed, spot first"
        );
        assert_eq!(
            s.route(JobTier::Starter, both),
            Some(Pool::Spot),
            "Starter: spot only"
        );

        let no_spot = PoolAvailability {
            spot_free: 0,
            ..both
        };
        assert_eq!(
            s.route(JobTier::Business, no_spot),
            Some(Pool::OnDemand),
            "Business: on-demand above the reserve"
        );
        assert_eq!(
            s.route(JobTier::Starter, no_spot),
            None,
            "Starter never takes on-demand: it waits"
        );
        let only_reserve = PoolAvailability {
            on_demand_free: 3,
            on_demand_reserved: 3,
            spot_free: 0,
        };
        assert_eq!(
            s.route(JobTier::Business, only_reserve),
            None,
            "the reserved floor is Enterprise's"
        );
        assert_eq!(
            s.route(JobTier::Enterprise, only_reserve),
            Some(Pool::OnDemand)
        );
        let no_on_demand = PoolAvailability {
            on_demand_free: 0,
            on_demand_reserved: 0,
            spot_free: 2,
        };
        assert_eq!(
            s.route(JobTier::Enterprise, no_on_demand),
            Some(Pool::Spot),
            "Enterprise falls back to spot"
        );
    }

    #[test]
    fn gpu_routing_follows_the_hardware_table_cheapest_suitable_first() {
        let r = GpuRouter::inference_platform();
        let all = |_: &str| true;
        let expect = [
            (Workload::SdxlStandard, "L4"),
            (Workload::SdxlLora, "L4"),
            (Workload::SdxlControlNet, "A10G"),
            (Workload::SdxlMultiControlNet, "A100 40GB"),
            (Workload::Sd3OrFlux, "A100 40GB"),
            (Workload::HighRes, "A100 40GB"),
            (Workload::Turbo, "H100"),
            (Workload::Batch, "A100 80GB"),
        ];
        for (w, gpu) in expect {
            assert_eq!(r.route(w, all).unwrap().name, gpu, "{w:?} -> {gpu}");
        }
        // L4s busy: standard SDXL goes to an A10G ($1.00 > $0.80), never an A100.
        let no_l4 = |g: &str| g != "L4";
        assert_eq!(r.route(Workload::SdxlStandard, no_l4).unwrap().name, "A10G");
        assert!(r
            .route(Workload::SdxlStandard, |g: &str| g.starts_with("A100"))
            .is_none());
        // Turbo only on H100: none free, it waits.
        assert!(r.route(Workload::Turbo, |g: &str| g != "H100").is_none());
        let l4 = r.gpu("L4").unwrap();
        assert_eq!(
            (l4.vram_gb, l4.cost_per_hour),
            (24, 0.80),
            "L4: 24 GB, ~$0.80/h"
        );
        for w in Workload::ALL {
            assert!(!r.candidates(w).is_empty(), "{w:?} has a GPU in the matrix");
        }
    }
}
