// The --config file (YAML or JSON; JSON is YAML) and the admin endpoint's pushed document: the same
// settings as the flags, under camelCase keys. See docs/datapath.md for the format.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isLogLevel } from '../cli/log.ts';
import type { Rule } from '../policy/rule.ts';
import {
  ConfigError,
  type ForwardSpec,
  parseAction,
  parseDuration,
  parseForward,
  parseHostPort,
  parsePositiveInt,
  parseRuleSpec,
  parseRules,
  type SettingsPatch,
} from './settings.ts';

type Doc = Record<string, unknown>;

/**
 * JSON documents (what the operator pushes) are parsed with JSON.parse; the YAML parser is loaded
 * only when a document is not JSON, since it adds ~10 MiB of RSS to a process budgeted at 64 MiB.
 */
function parseDocument(text: string): unknown {
  const t = text.trim();
  if (t.startsWith('{')) {
    try {
      return JSON.parse(t);
    } catch {
      // not JSON after all (YAML flow mappings also start with "{"): let the YAML parser judge it
    }
  }
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text, { maxAliasCount: 100 });
}

const KNOWN = new Set([
  'name',
  'serverUrl',
  'proxyAddr',
  'healthAddr',
  'auditPath',
  'audit',
  'egress',
  'forwards',
  'logLevel',
  'limits',
  'hostsFile',
]);

function str(where: string, v: unknown): string {
  if (typeof v !== 'string') throw new ConfigError(where, v, 'must be a string');
  return v;
}

function list(where: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(where, v, 'must be a list');
  return v;
}

/** Parses a document's text into a settings patch. `where` names the source in errors. */
export function parseConfigText(text: string, where: string): SettingsPatch {
  let doc: unknown;
  try {
    doc = parseDocument(text);
  } catch (e) {
    throw new ConfigError(
      where,
      text.slice(0, 40),
      `not valid YAML/JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(where, doc, 'must be a mapping');
  const d = doc as Doc;
  const p: SettingsPatch = {};
  for (const k of Object.keys(d))
    if (!KNOWN.has(k)) throw new ConfigError(`${where}: ${k}`, d[k], 'unknown key');
  const at = (k: string) => `${where}: ${k}`;
  if (d.name !== undefined) p.name = str(at('name'), d.name);
  if (d.serverUrl !== undefined) p.serverUrl = str(at('serverUrl'), d.serverUrl);
  if (d.proxyAddr !== undefined)
    p.proxyAddr = parseHostPort(at('proxyAddr'), str(at('proxyAddr'), d.proxyAddr));
  if (d.healthAddr !== undefined)
    p.healthAddr = parseHostPort(at('healthAddr'), str(at('healthAddr'), d.healthAddr));
  if (d.auditPath !== undefined) p.auditPath = str(at('auditPath'), d.auditPath);
  if (d.hostsFile !== undefined) p.hostsFile = str(at('hostsFile'), d.hostsFile);
  if (d.logLevel !== undefined) {
    const l = str(at('logLevel'), d.logLevel);
    if (!isLogLevel(l)) throw new ConfigError(at('logLevel'), l, 'must be debug, info, warn or error');
    p.logLevel = l;
  }
  if (d.audit !== undefined) {
    const a = d.audit as Doc;
    if (typeof a !== 'object' || a === null) throw new ConfigError(at('audit'), a, 'must be a mapping');
    if (a.maxBytes !== undefined)
      p.auditMaxBytes = parsePositiveInt(at('audit.maxBytes'), a.maxBytes as number);
    if (a.maxFiles !== undefined)
      p.auditMaxFiles = parsePositiveInt(at('audit.maxFiles'), a.maxFiles as number, 1000);
    if (a.failClosed !== undefined) {
      if (typeof a.failClosed !== 'boolean')
        throw new ConfigError(at('audit.failClosed'), a.failClosed, 'must be true or false');
      p.auditFailClosed = a.failClosed;
    }
  }
  if (d.limits !== undefined) {
    const l = d.limits as Doc;
    if (typeof l !== 'object' || l === null) throw new ConfigError(at('limits'), l, 'must be a mapping');
    const dur = (k: string) =>
      l[k] === undefined ? undefined : parseDuration(at(`limits.${k}`), l[k] as string);
    p.handshakeTimeoutMs = dur('handshakeTimeout');
    p.dialTimeoutMs = dur('dialTimeout');
    p.idleTimeoutMs = dur('idleTimeout');
    p.drainTimeoutMs = dur('drainTimeout');
    if (l.maxConnections !== undefined)
      p.maxConnections = parsePositiveInt(at('limits.maxConnections'), l.maxConnections as number, 1_000_000);
  }
  if (d.egress !== undefined) {
    const e = d.egress as Doc;
    if (typeof e !== 'object' || e === null) throw new ConfigError(at('egress'), e, 'must be a mapping');
    if (e.defaultAction !== undefined)
      p.defaultAction = parseAction(
        at('egress.defaultAction'),
        str(at('egress.defaultAction'), e.defaultAction),
      );
    const rules: Rule[] = [];
    const fromList = (key: 'allow' | 'deny') => {
      if (e[key] === undefined) return;
      const items = list(at(`egress.${key}`), e[key]);
      for (let i = 0; i < items.length; i++) {
        const w = at(`egress.${key}[${i}]`);
        rules.push(...parseRules(w, str(w, items[i]), key));
      }
    };
    fromList('allow');
    fromList('deny');
    if (e.rules !== undefined) {
      const items = list(at('egress.rules'), e.rules);
      for (let i = 0; i < items.length; i++) rules.push(parseRuleSpec(at(`egress.rules[${i}]`), items[i]));
    }
    p.specRules = rules;
  }
  if (d.forwards !== undefined) {
    const out: ForwardSpec[] = [];
    list(at('forwards'), d.forwards).forEach((f, i) => {
      const w = at(`forwards[${i}]`);
      if (typeof f !== 'object' || f === null) throw new ConfigError(w, f, 'must be a mapping');
      const x = f as Doc;
      const port = parsePositiveInt(`${w}.port`, x.port as number, 65535);
      const target = str(`${w}.target`, x.target);
      const allowFrom =
        x.allowFrom === undefined
          ? []
          : list(`${w}.allowFrom`, x.allowFrom).map((a, j) => str(`${w}.allowFrom[${j}]`, a));
      const listen = x.listen === undefined ? undefined : str(`${w}.listen`, x.listen);
      out.push(parseForward(w, `${port}:${target}`, allowFrom, listen));
    });
    p.forwards = out;
  }
  return p;
}

export function readConfigFile(path: string): SettingsPatch {
  return readConfigFileText(path).patch;
}

/** The file's text and what it says (the text is the baseline the file watcher compares to). */
export function readConfigFileText(path: string): { text: string; patch: SettingsPatch } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('--config', path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return { text, patch: parseConfigText(text, `config file ${path}`) };
}
