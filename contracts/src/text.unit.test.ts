import fc from 'fast-check';
import { StoredText } from './common.js';

// What PostgreSQL accepts as text and jsonb: any string of Unicode scalar values except U+0000.
const storable = (text: string) => {
  try {
    // A lone surrogate has no UTF-8 form: TextEncoder would write U+FFFD for it. ignoreBOM: a
    // leading U+FEFF is a character like any other here, not a byte order mark to drop.
    const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    return !text.includes('\u0000') && utf8.decode(Buffer.from(text)) === text;
  } catch {
    return false;
  }
};

describe('StoredText', () => {
  test('accepts exactly the strings PostgreSQL can store as they are (any UTF-16 units)', () => {
    // Found by the property below: a leading U+FEFF is storable text.
    expect(StoredText().safeParse('\ufeffabc').success).toBe(storable('\ufeffabc'));
    expect(storable('\ufeffabc')).toBe(true);
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 40 }),
        (a, b) => {
          const text = a + b; // joins may pair two halves or leave one alone
          expect(StoredText().safeParse(text).success).toBe(storable(text));
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 20 }), (units) => {
        const text = String.fromCharCode(...units);
        expect(StoredText().safeParse(text).success).toBe(storable(text));
      }),
      { numRuns: 2000 },
    );
  });

  test.each([
    ['a\ud800b', 'lone UTF-16 surrogate'],
    ['\udc00', 'lone UTF-16 surrogate'],
    ['x\ud83d', 'lone UTF-16 surrogate'],
    ['a\u0000b', 'NUL character (U+0000)'],
  ])('refuses %j, saying why', (text, reason) => {
    const issue = StoredText().safeParse(text).error?.issues[0];
    expect(issue?.message).toContain(reason);
  });

  test('keeps emoji, astral and combining text', () => {
    for (const text of ['🌱', 'Grüße', '日本語', 'e\u0301', '\u{10FFFF}', ''])
      expect(StoredText().parse(text)).toBe(text);
  });
});
