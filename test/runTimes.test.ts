import { describe, expect, it } from 'vitest';
import { RUN_TIME_NAMES, RUN_TIME_WEIGHT, RUNS_BEFORE_RUN_AHEAD, RunTimeStats } from '../machines/index.js';

function measured(name: string, ms: number, runs = RUNS_BEFORE_RUN_AHEAD): RunTimeStats {
  const stats = new RunTimeStats();
  for (let i = 0; i < runs; i += 1) stats.record(name, ms);
  return stats;
}

describe('RunTimeStats', () => {
  it('should expect Infinity of a name never measured', () => {
    expect(new RunTimeStats().expectedMs('resize')).toBe(Infinity);
  });

  it('should expect Infinity until a name has run RUNS_BEFORE_RUN_AHEAD times', () => {
    const stats = new RunTimeStats();
    for (let i = 1; i < RUNS_BEFORE_RUN_AHEAD; i += 1) {
      stats.record('resize', 1);
      expect(stats.expectedMs('resize')).toBe(Infinity);
    }
    stats.record('resize', 1);
    expect(stats.expectedMs('resize')).toBe(1);
  });

  it('should weigh each new run by RUN_TIME_WEIGHT in an exponential mean', () => {
    const stats = measured('resize', 10);
    stats.record('resize', 20);
    expect(stats.expectedMs('resize')).toBeCloseTo(10 + RUN_TIME_WEIGHT * 10);
    stats.record('resize', 0);
    const afterTwo = 12 + RUN_TIME_WEIGHT * (0 - 12);
    expect(stats.expectedMs('resize')).toBeCloseTo(afterTwo);
  });

  it('should keep names apart', () => {
    const stats = measured('fast', 0.1);
    stats.record('slow', 50);
    expect(stats.expectedMs('fast')).toBeCloseTo(0.1);
    expect(stats.expectedMs('slow')).toBe(Infinity);
  });

  it('should keep at most RUN_TIME_NAMES names, dropping the one first measured longest ago', () => {
    const stats = measured('name-0', 1);
    for (let i = 1; i < RUN_TIME_NAMES; i += 1) stats.record(`name-${i}`, 1);
    expect(stats.size).toBe(RUN_TIME_NAMES);
    // Measuring a name again does not move it back in line (that would cost a delete and a set per run): it goes by when it was first measured.
    stats.record('name-0', 1);
    stats.record('one-too-many', 1);
    expect(stats.size).toBe(RUN_TIME_NAMES);
    expect(stats.expectedMs('name-0')).toBe(Infinity);
    stats.record('name-1', 1);
    stats.record('name-1', 1);
    expect(stats.expectedMs('name-1')).toBe(1);
  });
});
