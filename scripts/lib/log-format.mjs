// Turns a service's JSON log line into one readable line: time, level, message, other fields.
// The proxy's access-log lines (Envoy-style JSON, no level) become one ACCESS line each.
const LEVELS = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR', fatal: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'service', 'pid', 'context']);
/** Access-log fields shown in the line's head rather than as key=value. */
const ACCESS_HEAD = new Set([
  'start_time',
  'method',
  'authority',
  'path',
  'response_code',
  'response_flags',
  'duration',
]);

export function formatLogLine(line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null) return line;
  if (entry.level === undefined && typeof entry.start_time === 'string' && 'response_code' in entry) {
    return formatAccessLine(entry);
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = LEVELS[entry.level] ?? String(entry.level ?? '').toUpperCase();
  const context = entry.context ? `[${entry.context}] ` : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${time} ${level} ${context}${entry.msg ?? ''}${fields ? `  ${fields}` : ''}`;
}

/** `21:12:19.834 ACCESS GET demo:8080/ok 200 - 21ms  upstream_host=... (null fields left out)`. */
function formatAccessLine(entry) {
  const time = entry.start_time.slice(11, 23);
  const target = `${entry.authority ?? ''}${entry.path ?? ''}`;
  const fields = Object.entries(entry)
    .filter(([key, value]) => !ACCESS_HEAD.has(key) && value !== null && value !== '')
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const head = `${time} ACCESS ${entry.method ?? '-'} ${target} ${entry.response_code} ${entry.response_flags ?? '-'} ${entry.duration}ms`;
  return `${head}${fields ? `  ${fields}` : ''}`;
}
