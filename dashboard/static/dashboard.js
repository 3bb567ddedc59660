// Polls /api/snapshot and updates the page in place (no reload). Every
// value from the store is set as text, never as HTML.
'use strict';

const STALE_SECONDS = 120;
// 20 distinct colours (matplotlib's tab20, as in the report's charts).
const COLORS = ['#1f77b4', '#aec7e8', '#ff7f0e', '#ffbb78', '#2ca02c',
  '#98df8a', '#d62728', '#ff9896', '#9467bd', '#c5b0d5', '#8c564b', '#c49c94',
  '#e377c2', '#f7b6d2', '#7f7f7f', '#c7c7c7', '#bcbd22', '#dbdb8d', '#17becf',
  '#9edae5'];
let refreshMs = 2000;

const $ = (id) => document.getElementById(id);
const usd = (text) => '$' + Number(text).toLocaleString('en-US',
    {minimumFractionDigits: 2, maximumFractionDigits: 2});
const pct = (x) => (100 * x).toFixed(2) + '%';

function ago(seconds) {
  if (seconds === null || seconds === undefined) return 'no panes yet';
  if (seconds < 90) return `newest pane ${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 5400) return `newest pane ${Math.round(seconds / 60)} min ago`;
  return `newest pane ${(seconds / 3600).toFixed(1)} h ago`;
}

function fillTable(id, rows) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    for (const [text, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function showStatus(data) {
  const banner = $('status');
  banner.className = 'banner ' + data.status;
  const title = {empty: 'No data yet', unavailable: 'Store unavailable',
                 error: 'Cannot read the store'}[data.status] || 'Problem';
  banner.textContent = `${title}: ${data.message} (checked ${data.checked_at || 'now'}; retrying)`;
  banner.hidden = false;
  $('figures').hidden = data.status !== 'ok';
  $('freshness').textContent = title.toLowerCase();
  $('freshness').className = 'pill stale';
}

// plotly.js (served from the installed plotly package) loads with the
// first figures, so a page that only has a message to show stays light.
let plotly = null;
function loadPlotly() {
  if (!plotly) {
    plotly = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = '/static/plotly.min.js';
      script.onload = resolve;
      script.onerror = () => { plotly = null; reject(new Error('plotly.js')); };
      document.head.appendChild(script);
    });
  }
  return plotly;
}

async function drawChart(data) {
  await loadPlotly();
  const traces = data.series.map((s) => ({
    type: 'bar', name: s.category, x: s.x, y: s.y.map(Number),
    hovertemplate: '%{x}<br>' + s.category + ': $%{y:,.2f}<extra></extra>',
  }));
  const shapes = data.windows.filter((w) => w.state === 'open').map((w) => ({
    type: 'rect', xref: 'x', yref: 'paper', x0: w.start, x1: w.end,
    y0: 0, y1: 1, fillcolor: 'rgba(255,193,7,0.18)', line: {width: 0},
    layer: 'below'}));
  const layout = {
    barmode: 'stack', margin: {t: 10, r: 10, b: 40, l: 70}, shapes,
    yaxis: {tickprefix: '$', separatethousands: true},
    legend: {orientation: 'h', y: -0.15, traceorder: 'normal'},
    colorway: COLORS, uirevision: 'keep',
  };
  Plotly.react('chart', traces, layout,
               {displaylogo: false, responsive: true, staticPlot: false});
}

async function render(data) {
  if (data.status !== 'ok') { showStatus(data); return; }
  $('status').hidden = true;
  $('figures').hidden = false;
  $('today').textContent = `(${data.today}, ${data.timezone})`;
  $('today-revenue').textContent = usd(data.today_revenue_usd);
  $('today-orders').textContent = data.today_orders.toLocaleString('en-US');
  $('total-revenue').textContent = usd(data.total_revenue_usd);
  $('total-orders').textContent = data.total_orders.toLocaleString('en-US');
  $('dead-letter-rate').textContent = pct(data.dead_letter_rate);
  $('late-rate').textContent = pct(data.late_rate);
  const fresh = $('freshness');
  fresh.textContent = ago(data.freshness_seconds);
  fresh.className = 'pill' + (data.freshness_seconds > STALE_SECONDS ? ' stale' : '');
  const top = data.top_products;
  $('top-window').textContent = top.length ? `(window from ${top[0].window_start})` : '';
  fillTable('top-products', top.map((p) => [
    [String(p.rank)], [p.product_name || p.product_id], [p.category],
    [String(p.orders), 'n'], [usd(p.revenue_usd), 'n']]));
  fillTable('windows', data.windows.slice(-12).reverse().map((w) => [
    [w.start], [String(w.orders), 'n'], [usd(w.revenue_usd), 'n'],
    [w.pane_timing], [w.state === 'open' ? 'open (EARLY)' : 'settled', w.state]]));
  await drawChart(data);
}

async function poll() {
  let data = null;
  try {
    const response = await fetch('/api/snapshot', {cache: 'no-store'});
    data = await response.json();
  } catch (e) {
    showStatus({status: 'error',
                message: 'the dashboard server does not answer'});
  }
  if (data) {
    if (data.refresh_seconds) refreshMs = 1000 * data.refresh_seconds;
    try {
      await render(data);
      $('updated').textContent = 'updated ' + (data.checked_at || '');
    } catch (e) {
      showStatus({status: 'error', message: 'the page could not draw the ' +
                  'figures (' + e.message + ')'});
    }
  }
  setTimeout(poll, refreshMs);
}

poll();
