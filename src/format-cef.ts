/**
 * ArcSight CEF for an alert (FORMATS.md 4.4). The header and the extension escape differently —
 * one escaper for both is the classic bug — so each has its own: header fields escape `\` and
 * `|` and cannot hold line breaks; extension values escape `\` and `=`, and carry line breaks as
 * `\n` / `\r`. Other control characters are replaced by a space in both.
 */
import type { Alert } from './alerts.js';
import { type FormatOptions, SEVERITY_10, traceLink } from './format-common.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

export function cefHeader(v: string): string {
  return v.replace(CONTROL, ' ').replace(/[\r\n]+/g, ' ').replace(/[\\|]/g, (m) => `\\${m}`);
}

export function cefValue(v: string): string {
  return v.replace(CONTROL, ' ').replace(/[\\=\r\n]/g, (m) => (m === '\r' ? '\\r' : m === '\n' ? '\\n' : `\\${m}`));
}

export function toCef(a: Alert, o: FormatOptions): string {
  const top = a.evidence[0];
  const signature = a.policy?.length ? `policy.${a.policy[0].rule}` : `detector.${a.detectors[0] ?? 'unknown'}`;
  const header = ['CEF:0', cefHeader(o.vendor), cefHeader(o.product), cefHeader(o.version), cefHeader(signature), cefHeader(a.title), String(SEVERITY_10[a.severity])].join('|');
  const ext: [string, string | number | undefined][] = [
    ['rt', Date.parse(a.time)], ['externalId', a.id], ['cat', a.kind], ['suser', a.agent.id], ['duser', a.principal],
    ['dhost', a.call?.host], ['request', a.call?.url], ['requestMethod', a.call?.action.split(' ')[0]], ['act', a.killSwitch ? 'kill-switch' : 'alert'],
    ['cs1Label', 'traceId'], ['cs1', a.traceId], ['cs2Label', 'spanIds'], ['cs2', a.spanIds.join(',')],
    ['cs3Label', 'credentialId'], ['cs3', a.credential], ['cs4Label', 'traceLink'], ['cs4', traceLink(a, o.linkTemplate)],
    ['cs5Label', 'detectors'], ['cs5', a.detectors.join(',')], ['cs6Label', 'expected'], ['cs6', top?.expected],
    ['cn1Label', 'score'], ['cn1', Math.round(a.score * 100)], ['cnt', a.count], ['msg', a.summary],
  ];
  const parts: string[] = [];
  for (let i = 0; i < ext.length; i++) {
    const [k, v] = ext[i];
    if (v === undefined || v === '') {
      // A label without its value says nothing: drop both.
      if (k.endsWith('Label')) i++;
      continue;
    }
    parts.push(`${k}=${cefValue(String(v))}`);
  }
  return `${header}|${parts.join(' ')}`;
}
