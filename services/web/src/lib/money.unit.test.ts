import { formatMoney, parseAmount } from './money.js';

test('typed amounts become integer minor units of the currency, or null', () => {
  expect(parseAmount('12.5', 'EUR')).toBe(1250);
  expect(parseAmount('0,07', 'EUR')).toBe(7);
  expect(parseAmount('300', 'JPY')).toBe(300);
  expect(parseAmount('1.5', 'JPY')).toBeNull();
  expect(parseAmount('1.234', 'EUR')).toBeNull();
  expect(parseAmount('0', 'EUR')).toBeNull();
  expect(parseAmount('-3', 'EUR')).toBeNull();
  expect(parseAmount('abc', 'EUR')).toBeNull();
});

test('minor units are shown in the currency', () => {
  expect(formatMoney(1250, 'EUR')).toMatch(/12[.,]50/);
  expect(formatMoney(300, 'JPY')).toMatch(/300/);
});
