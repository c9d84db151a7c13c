"""Accessibility basics checked in the browser: names for every control, document language,
headings, tables, images, and keyboard reachability.

Not a full WCAG audit (no axe-core here): the rules below are the ones a page of server-rendered
HTML most often breaks, checked on the rendered DOM.
"""

from __future__ import annotations

from playwright.async_api import Page

_CHECKS = r"""
() => {
  const problems = [];
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.getAttribute('name') ? '[name=' + el.getAttribute('name') + ']' : '');
  const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  if (!document.documentElement.lang) problems.push('<html> has no lang');
  if (!document.title.trim()) problems.push('the page has no <title>');
  const h1 = document.querySelectorAll('h1');
  if (h1.length !== 1) problems.push('expected one <h1>, found ' + h1.length);
  let last = 0;
  document.querySelectorAll('h1,h2,h3,h4,h5,h6').forEach(h => {
    const level = +h.tagName[1];
    if (last && level > last + 1) problems.push('heading level skips from h' + last + ' to h' + level + ': ' + h.textContent.trim());
    last = level;
  });
  document.querySelectorAll('input, select, textarea').forEach(el => {
    if (el.type === 'hidden' || !visible(el)) return;
    const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label') ||
        el.getAttribute('aria-labelledby') || el.getAttribute('title');
    if (!labelled) problems.push('control without a label: ' + describe(el));
  });
  document.querySelectorAll('button, a[href]').forEach(el => {
    if (!visible(el)) return;
    const name = (el.textContent || '').trim() || el.getAttribute('aria-label') || el.getAttribute('title');
    if (!name) problems.push('control without a name: ' + describe(el));
  });
  document.querySelectorAll('img').forEach(el => { if (!el.hasAttribute('alt')) problems.push('img without alt'); });
  document.querySelectorAll('[tabindex]').forEach(el => { if (+el.getAttribute('tabindex') > 0) problems.push('positive tabindex on ' + describe(el)); });
  document.querySelectorAll('[onclick], [hx-get], [hx-post]').forEach(el => {
    const tag = el.tagName.toLowerCase();
    const focusable = ['a', 'button', 'input', 'select', 'textarea', 'form'].includes(tag) || el.hasAttribute('tabindex');
    const trigger = el.getAttribute('hx-trigger') || '';
    if (!focusable && !/every|load|revealed|sse|intersect/.test(trigger) && !el.closest('form')) problems.push('clickable element not reachable by keyboard: ' + describe(el));
  });
  document.querySelectorAll('table').forEach(t => { if (!t.querySelector('th')) problems.push('table without header cells'); });
  document.querySelectorAll('.chart').forEach(c => { if (!c.getAttribute('aria-label') && !c.getAttribute('aria-describedby')) problems.push('chart without a text alternative'); });
  return problems;
}
"""


async def problems(page: Page) -> list[str]:
    found = await page.evaluate(_CHECKS)
    assert isinstance(found, list)
    return [str(p) for p in found]


async def tab_order(page: Page, presses: int = 40) -> list[str]:
    """What the keyboard focus visits, pressing Tab from the top of the page."""
    await page.evaluate(
        "() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }"
    )
    seen: list[str] = []
    for _ in range(presses):
        await page.keyboard.press("Tab")
        label = await page.evaluate(
            "() => { const e = document.activeElement; if (!e || e === document.body) return '';"
            " return e.tagName.toLowerCase() + ':' + ((e.textContent || '').trim() ||"
            " e.getAttribute('aria-label') || e.getAttribute('name') || e.id).slice(0, 40); }"
        )
        seen.append(str(label))
    return seen
