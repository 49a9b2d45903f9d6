import { labelKeyProblem } from '../resources/names';

/** One requirement of an equality-based label selector. */
export interface LabelRequirement {
  key: string;
  operator: 'equals' | 'notEquals' | 'exists' | 'notExists';
  value?: string;
}

/**
 * Parses a Kubernetes equality-based selector: `app=reviews,tier!=db`, `app==reviews`,
 * `canary` (the label exists), `!canary` (it does not). Throws an Error naming the bad term.
 */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const requirements: LabelRequirement[] = [];
  for (const raw of text.split(',')) {
    const term = raw.trim();
    if (term === '') continue;
    const match = /^(!?)([^=!\s]+)\s*(?:(==|=|!=)\s*([^=!,\s]*))?$/.exec(term);
    if (!match || (match[1] && match[3]))
      throw new Error(`cannot parse "${term}": expected key=value, key!=value, key or !key`);
    const [, negated, key, operator, value] = match;
    const problem = labelKeyProblem(key);
    if (problem) throw new Error(`"${key}": ${problem}`);
    if (!operator) requirements.push({ key, operator: negated ? 'notExists' : 'exists' });
    else requirements.push({ key, operator: operator === '!=' ? 'notEquals' : 'equals', value });
  }
  return requirements;
}

/** Whether `labels` satisfy every requirement (an empty selector matches everything). */
export function matchesSelector(labels: Record<string, string>, requirements: readonly LabelRequirement[]): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.operator) {
      case 'equals':
        return has && labels[r.key] === r.value;
      case 'notEquals':
        return !has || labels[r.key] !== r.value;
      case 'exists':
        return has;
      case 'notExists':
        return !has;
    }
  });
}
