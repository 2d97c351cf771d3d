import {
  type ChainNeighbours,
  canonicalJson,
  GENESIS_HASH,
  rowHash,
  type StoredRow,
  verifyRows,
} from './chain.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'x' }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":"x","z":null}]},"b":1}',
    );
  });

  it('writes the same text for equal values built in another key order', () => {
    const one = { title: 'Dentist', tags: ['a', 'b'], changes: { title: { before: 'x', after: 'y' } } };
    const two = { changes: { title: { after: 'y', before: 'x' } }, tags: ['a', 'b'], title: 'Dentist' };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  it('keeps array order, escapes strings as JSON does, and writes numbers as JSON does', () => {
    expect(canonicalJson(['b', 'a', 'line\n"quoted"', 1.5, 1e21, -0])).toBe(
      '["b","a","line\\n\\"quoted\\"",1.5,1e+21,0]',
    );
  });
});

function content(id: number, prev: string) {
  return {
    id: String(id),
    event_id: `0190f1a2-7b3c-7d4e-8f50-${String(id).padStart(12, '0')}`,
    time: new Date(Date.UTC(2025, 0, 1, 0, id)).toISOString(),
    actor: '0190f1a2-7b3c-7d4e-8f50-6a7b8c9d0e1f',
    action: 'task.updated',
    task_id: '0190f1a2-7b3c-7d4e-8f50-000000000001',
    changes: { title: { before: `t${id - 1}`, after: `t${id}` } },
    trace_id: null,
    source: '/taskstream/task-api',
    payload: { task: { title: `t${id}` } },
    prev_hash: prev,
  };
}

function chain(n: number): StoredRow[] {
  const rows: StoredRow[] = [];
  let prev = GENESIS_HASH;
  for (let id = 1; id <= n; id++) {
    const c = content(id, prev);
    prev = rowHash(c);
    rows.push({ ...c, hash: prev });
  }
  return rows;
}

/** Neighbour look-ups over the whole table (and hashes kept for pruned rows). */
function neighbours(table: StoredRow[], pruned: Map<string, string> = new Map()): ChainNeighbours {
  return {
    hashOf: async (id) => table.find((r) => r.id === id)?.hash ?? pruned.get(id),
    prevHashOf: async (id) => table.find((r) => r.id === id)?.prev_hash,
  };
}

async function* iterate(rows: StoredRow[]) {
  yield* rows;
}

describe('rowHash', () => {
  it('changes when any covered field or the previous hash changes', () => {
    const base = content(1, GENESIS_HASH);
    const hash = rowHash(base);
    expect(rowHash({ ...base })).toBe(hash);
    for (const [field, value] of Object.entries({
      action: 'task.deleted',
      payload: { task: { title: 'other' } },
      prev_hash: '1'.repeat(64),
      trace_id: 'ab',
      time: '2025-01-01T00:00:00.001Z',
    })) {
      expect(rowHash({ ...base, [field]: value })).not.toBe(hash);
    }
  });
});

describe('verifyRows', () => {
  it('accepts an intact chain and counts its rows', async () => {
    const rows = chain(20);
    expect(await verifyRows(iterate(rows), neighbours(rows))).toEqual({
      ok: true,
      checked: 20,
      first_broken: null,
      reason: null,
    });
  });

  it('names a row whose content was edited', async () => {
    const rows = chain(10);
    rows[6] = { ...rows[6]!, payload: { task: { title: 'forged' } } };
    const outcome = await verifyRows(iterate(rows), neighbours(rows));
    expect(outcome).toMatchObject({
      ok: false,
      first_broken: '7',
      reason: 'content does not match its hash',
    });
  });

  it('names a row that was edited and given a fresh hash (its successor still chains to the old one)', async () => {
    const rows = chain(10);
    const forged = { ...rows[3]!, payload: { task: { title: 'forged' } } };
    rows[3] = { ...forged, hash: rowHash(forged) };
    const outcome = await verifyRows(iterate(rows), neighbours(rows));
    expect(outcome).toMatchObject({ ok: false, first_broken: '4' });
  });

  it('names the row after a deleted one', async () => {
    const rows = chain(10);
    rows.splice(4, 1);
    const outcome = await verifyRows(iterate(rows), neighbours(rows));
    expect(outcome).toMatchObject({ ok: false, first_broken: '6', reason: 'previous row 5 is missing' });
  });

  it('checks a selection against neighbours outside it, including hashes kept for pruned rows', async () => {
    const rows = chain(30);
    const selection = rows.filter((r) => Number(r.id) % 3 !== 0 && Number(r.id) > 10);
    expect(await verifyRows(iterate(selection), neighbours(rows))).toMatchObject({
      ok: true,
      checked: selection.length,
    });

    const survivors = rows.slice(12);
    const pruned = new Map([['12', rows[11]!.hash]]);
    expect(await verifyRows(iterate(survivors), neighbours(survivors, pruned))).toMatchObject({ ok: true });
    expect(await verifyRows(iterate(survivors), neighbours(survivors))).toMatchObject({
      ok: false,
      first_broken: '13',
    });
  });

  it('names the last selected row when the row after it, outside the selection, chains elsewhere', async () => {
    const rows = chain(8);
    const forged = { ...rows[4]!, action: 'task.deleted' };
    rows[4] = { ...forged, hash: rowHash(forged) };
    expect(await verifyRows(iterate(rows.slice(0, 5)), neighbours(rows))).toMatchObject({
      ok: false,
      first_broken: '5',
    });
  });

  it('rejects a repeated id', async () => {
    const rows = chain(5);
    const outcome = await verifyRows(
      iterate([...rows.slice(0, 3), rows[2]!, ...rows.slice(3)]),
      neighbours(rows),
    );
    expect(outcome).toMatchObject({ ok: false, first_broken: '3' });
  });
});
