import { chartPaths, niceMax, pushSample, seriesOf } from './chart.js';

describe('live charts', () => {
  it('rounds the top of the axis up to 1, 2 or 5 times a power of ten', () => {
    expect([0, 0.4, 1, 1.5, 3, 7, 10, 11, 240, 999].map(niceMax)).toEqual([
      1, 1, 1, 2, 5, 10, 10, 20, 500, 1000,
    ]);
  });

  it('puts the newest value at the right edge and scales to the top', () => {
    const { paths, max } = chartPaths([{ name: 'a', values: [0, 5, 10] }], 5, 400, 104);
    expect(max).toBe(10);
    // Three of five slots: x = 200, 300, 400; y from the bottom (102) to the top (2).
    expect(paths[0]).toBe('M200.0,102.0 L300.0,52.0 L400.0,2.0');
  });

  it('keeps one series per name across the window, missing values as 0', () => {
    const samples: Record<string, number>[] = [{ a: 1 }, { a: 2, b: 5 }, { b: 1 }];
    expect(seriesOf(samples, (s) => s)).toEqual([
      { name: 'a', values: [1, 2, 0] },
      { name: 'b', values: [0, 5, 1] },
    ]);
  });

  it('keeps the newest samples only', () => {
    let window: number[] = [];
    for (let i = 1; i <= 5; i++) window = pushSample(window, i, 3);
    expect(window).toEqual([3, 4, 5]);
  });
});
