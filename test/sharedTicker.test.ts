import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { everyTick } from '../src/runtime/sharedTicker.js';

describe('everyTick, one timer per period for every poller', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('should call every callback of a period each period, on one timer', () => {
    const a = vi.fn();
    const b = vi.fn();
    const stopA = everyTick(100, a);
    const stopB = everyTick(100, b);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(350);
    expect([a.mock.calls.length, b.mock.calls.length]).toEqual([3, 3]);
    stopA();
    stopB();
  });

  it('should keep a separate timer for each period', () => {
    const fast = vi.fn();
    const slow = vi.fn();
    const stopFast = everyTick(25, fast);
    const stopSlow = everyTick(100, slow);
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(200);
    expect([fast.mock.calls.length, slow.mock.calls.length]).toEqual([8, 2]);
    stopFast();
    stopSlow();
  });

  it('should stop calling one that unsubscribed, keep calling the others, and end the timer with the last', () => {
    const a = vi.fn();
    const b = vi.fn();
    const stopA = everyTick(50, a);
    const stopB = everyTick(50, b);
    vi.advanceTimersByTime(50);
    stopA();
    vi.advanceTimersByTime(100);
    expect([a.mock.calls.length, b.mock.calls.length]).toEqual([1, 3]);
    expect(vi.getTimerCount()).toBe(1);
    stopB();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(500);
    expect(b).toHaveBeenCalledTimes(3);
  });

  it('should start a fresh timer for a period whose last poller left', () => {
    const first = vi.fn();
    everyTick(40, first)();
    expect(vi.getTimerCount()).toBe(0);
    const second = vi.fn();
    const stop = everyTick(40, second);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(80);
    expect([first.mock.calls.length, second.mock.calls.length]).toEqual([0, 2]);
    stop();
  });

  it('should count the same function subscribed twice as two pollers', () => {
    const fn = vi.fn();
    const stop1 = everyTick(10, fn);
    const stop2 = everyTick(10, fn);
    vi.advanceTimersByTime(10);
    expect(fn).toHaveBeenCalledTimes(2);
    stop1();
    vi.advanceTimersByTime(10);
    expect(fn).toHaveBeenCalledTimes(3);
    stop2();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('should not keep the process alive', () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const stop = everyTick(1000, () => {});
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    stop();
    spy.mockRestore();
  });
});
