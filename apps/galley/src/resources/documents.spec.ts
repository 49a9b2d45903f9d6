import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromJson, parseYamlStream } from './documents';

describe('parseYamlStream', () => {
  it('splits documents, skips empty ones and expands a List', () => {
    const { documents, problems } = parseYamlStream(
      '---\na: 1\n---\n# only a comment\n---\nkind: List\nitems:\n- b: 2\n- c: 3\n---\nd: 4\n',
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(
      documents.map((d) => [d.index, d.value]),
      [
        [0, { a: 1 }],
        [1, { b: 2 }],
        [2, { c: 3 }],
        [3, { d: 4 }],
      ],
    );
    assert.deepEqual(documents[2].locate?.(['c']), { line: 9, column: 6 });
  });

  it('reports a syntax error with its line and column, and keeps counting documents', () => {
    const { documents, problems } = parseYamlStream('a: 1\n---\nb: [1, 2\nc: 3\n---\nd: 4\n');
    assert.equal(problems[0].document, 1);
    assert.equal(problems[0].line, 4);
    assert.match(problems[0].message, /^malformed YAML at line 4, column \d+: /);
    assert.deepEqual(
      documents.map((d) => d.index),
      [0, 2],
    );
  });

  it('refuses duplicate keys', () => {
    assert.equal(parseYamlStream('a: 1\na: 2\n').problems.length, 1);
  });
});

describe('fromJson', () => {
  it('accepts an object, an array and a List', () => {
    assert.equal(fromJson({ a: 1 }).length, 1);
    assert.equal(fromJson([{ a: 1 }, { b: 2 }]).length, 2);
    assert.deepEqual(
      fromJson({ apiVersion: 'v1', kind: 'List', items: [{ a: 1 }] }).map((d) => d.value),
      [{ a: 1 }],
    );
  });
});
