// The gauge in the header: how full the last request's window was, what share of it (and
// of the whole conversation) came from the prompt cache, what the conversation cost, and
// the user's spend against their limit.

import { get } from "./api.js";
import { number, percent, usd } from "./dom.js";
import { on, state } from "./state.js";

const gauge = (name) => document.querySelector(`#gauge [data-gauge="${name}"]`);

export function initGauge() {
  on("conversation-opened", refreshGauge);
  on("conversation-changed", refreshGauge);
}

/** Read the figures again and show them. */
export async function refreshGauge() {
  const conv = state.current;
  const [cost, usage] = await Promise.all([
    conv ? get(`/v1/conversations/${conv.id}/cost`).catch(() => null) : null,
    get("/v1/usage?conversations=false").catch(() => null),
  ]);
  if (state.current !== conv) return;
  showConversation(cost);
  showSpend(usage);
}

function showConversation(cost) {
  const fill = gauge("window");
  const costNode = gauge("cost");
  if (!cost) {
    fill.textContent = "–";
    gauge("cache-last").textContent = "–";
    gauge("cache-conv").textContent = "–";
    costNode.textContent = "–";
    delete costNode.dataset.usd;
    return;
  }
  const used = cost.last_request_tokens === null ? 0 : cost.last_request_tokens;
  fill.textContent = `${number(used)} / ${number(cost.budget)} tokens`;
  fill.parentElement.classList.toggle("full", cost.budget && used / cost.budget > 0.9);
  gauge("cache-last").textContent = percent(cost.last_cache_hit_ratio);
  gauge("cache-conv").textContent = percent(cost.cache_hit_ratio);
  costNode.textContent = usd(cost.cost_usd);
  if (cost.cost_usd === null || cost.cost_usd === undefined) delete costNode.dataset.usd;
  else costNode.dataset.usd = String(cost.cost_usd);
}

function showSpend(usage) {
  const node = gauge("spend");
  if (!usage) {
    node.textContent = "–";
    return;
  }
  const limits = usage.limits || {};
  if (limits.usd_per_day !== null && limits.usd_per_day !== undefined) {
    node.textContent = `${usd(usage.today_usd)} / ${usd(limits.usd_per_day)} today`;
  } else if (limits.usd_per_month !== null && limits.usd_per_month !== undefined) {
    node.textContent = `${usd(usage.month_usd)} / ${usd(limits.usd_per_month)} this month`;
  } else {
    node.textContent = `${usd(usage.month_usd)} this month (no limit)`;
  }
  node.dataset.usd = String(usage.month_usd);
}
