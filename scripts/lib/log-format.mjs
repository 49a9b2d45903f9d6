// Turns a service's JSON log line into one readable line: time, level, message, other fields.
const LEVELS = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR', fatal: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'service', 'pid', 'context']);

export function formatLogLine(line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null) return line;
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = LEVELS[entry.level] ?? String(entry.level ?? '').toUpperCase();
  const context = entry.context ? `[${entry.context}] ` : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${time} ${level} ${context}${entry.msg ?? ''}${fields ? `  ${fields}` : ''}`;
}
