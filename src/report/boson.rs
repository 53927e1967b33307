//! The Boson share of a run's report: one line for the terminal and
//! `summary.md`, and a section of `report.html` (the transitions' phases, the
//! checklist's dashboards over time, the alerts that fired and the runway).

use maud::{Markup, html};

use crate::load::boson::account::BosonFigures;

/// Dashboard rows shown in the page at most (evenly thinned).
const ROWS_SHOWN: usize = 30;

/// One line: what was walked and how it went.
pub fn line(b: &BosonFigures) -> String {
    let ttc = b.dashboards.as_ref().map_or("-".into(), |d| {
        format!("{:.0} ms", d.time_to_completion_ms.p99_ms)
    });
    let alerts = b.dashboards.as_ref().map_or(0, |d| d.alerts.len());
    format!(
        "boson ({}): {} exchanges at {}/s, walked {}, gave up {}, cut off {}; transitions lost {}, sent twice {}; relayer fallbacks {}, maybe-sent {}; paused retries {}; withdrawals {}; time to completion p99 {ttc}; gas paid {:.4} ETH; alerts {alerts}",
        b.client,
        b.exchanges_started,
        b.offered_rate,
        b.exchanges_walked,
        b.gave_up.values().sum::<u64>(),
        b.cut_off,
        b.lost_transitions,
        b.double_submitted,
        b.relayer_fallbacks,
        b.relayer_ambiguous,
        b.paused_retries,
        b.withdrawals,
        b.gas_paid_eth,
    )
}

/// One line: Dual's organization balance, its runway and the balance-low alert.
pub fn balance_line(d: &super::DualBalance) -> String {
    format!(
        "dual balance: {:.2} of {:.2} DUAL spent on {} actions ({} each), {:.2} left, {:.2}/hour, runway {}{}",
        d.spent,
        d.initial,
        d.charged_actions,
        d.fee_per_action,
        d.remaining,
        d.spent_per_hour,
        d.runway_days.map_or("-".into(), |r| format!("{r:.2} days")),
        if d.low_fired {
            format!("; alert balance_low (below {})", d.low)
        } else {
            String::new()
        }
    )
}

fn ms(v: f64) -> String {
    format!("{v:.0}")
}

/// The page's Boson section.
pub fn section(b: &BosonFigures) -> Markup {
    html! {
        p id="boson-line" { (line(b)) }
        table id="boson-transitions" {
            tr {
                th { "transition into" } th { "set out" } th { "applied (twin)" }
                th { "receipt p50 / p99 ms" } th { "confirmed p50 / p99 ms" } th { "in the subgraph p50 / p99 ms" }
            }
            @for (state, p) in &b.transitions {
                tr {
                    td { (state) }
                    td.num { (b.set_out.get(state).copied().unwrap_or(0)) }
                    td.num { (b.applied.get(state).copied().unwrap_or(0)) }
                    td.num { (ms(p.receipt_ms.p50_ms)) " / " (ms(p.receipt_ms.p99_ms)) }
                    td.num { (ms(p.confirmed_ms.p50_ms)) " / " (ms(p.confirmed_ms.p99_ms)) }
                    td.num { (ms(p.indexed_ms.p50_ms)) " / " (ms(p.indexed_ms.p99_ms)) }
                }
            }
        }
        @if !b.reverts.is_empty() || !b.gave_up.is_empty() {
            table id="boson-reverts" {
                tr { th { "reverts and give-ups, by name" } th { "count" } }
                @for (name, n) in b.reverts.iter().chain(b.gave_up.iter()) { tr { td { (name) } td.num { (n) } } }
            }
        }
        @if let Some(d) = &b.dashboards {
            h3 { "Alerts (the checklist's conditions)" }
            @if d.alerts.is_empty() {
                p id="boson-alerts" { "None fired." }
            } @else {
                table id="boson-alerts" {
                    tr { th { "alert" } th { "first at (s)" } th { "samples" } th { "detail" } }
                    @for a in &d.alerts {
                        tr.fail {
                            td { (a.name) }
                            td.num { (a.at_s.map_or("projected".into(), |t| format!("{t:.1}"))) }
                            td.num { (a.samples) } td { (a.detail) }
                        }
                    }
                }
            }
            h3 { "Wallet runway" }
            table id="boson-runway" {
                tr { td { "gas per exchange (ETH)" } td.num { (format!("{:.6}", d.runway.gas_per_exchange_eth)) } }
                tr { td { "gas per hour (ETH)" } td.num { (format!("{:.4}", d.runway.gas_per_hour_eth)) } }
                tr { td { "seller's wallet (ETH)" } td.num { (d.runway.wallet_eth.map_or("-".into(), |w| format!("{w:.4}"))) } }
                tr { td { "runway at this burn (days)" } td.num { (d.runway.runway_days.map_or("-".into(), |r| format!("{r:.1}"))) } }
                tr { td { "expected daily burn (ETH, plan)" } td.num { (d.runway.expected_daily_burn_eth) } }
            }
            h3 { "Dashboards over time" }
            table id="boson-dashboards" {
                tr {
                    th { "t (s)" } th { "open exchanges" } th { "committed" } th { "redemption rate" }
                    th { "dispute rate" } th { "completed" } th { "gas paid (ETH)" } th { "subgraph behind (blocks)" }
                }
                @let step = d.rows.len().div_ceil(ROWS_SHOWN).max(1);
                @for r in d.rows.iter().step_by(step) {
                    tr {
                        td.num { (format!("{:.0}", r.t_s)) } td.num { (r.open_exchanges) } td.num { (r.committed) }
                        td.num { (format!("{:.2}", r.redemption_rate)) } td.num { (format!("{:.2}", r.dispute_rate)) }
                        td.num { (r.completed) } td.num { (format!("{:.5}", r.gas_paid_eth)) }
                        td.num { (r.subgraph_behind_blocks.map_or("-".into(), |b| b.to_string())) }
                    }
                }
            }
        }
    }
}
