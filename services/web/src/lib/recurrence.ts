/**
 * The recurrence part of the task form: presets people pick from, and any RRULE or cron rule
 * typed in. The rule strings are those services/recurring accepts (ADR 0005).
 */
import type { Recurrence } from '../types.js';

export const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
export const WEEKDAY_NAMES: Record<Weekday, string> = {
  MO: 'Monday',
  TU: 'Tuesday',
  WE: 'Wednesday',
  TH: 'Thursday',
  FR: 'Friday',
  SA: 'Saturday',
  SU: 'Sunday',
};

export type RecurrenceKind =
  | 'none'
  | 'daily'
  | 'weekdays'
  | 'weekly'
  | 'weekly-days'
  | 'monthly'
  | 'monthly-day'
  | 'monthly-nth'
  | 'yearly'
  | 'custom';

export const RECURRENCE_KINDS: { kind: RecurrenceKind; label: string }[] = [
  { kind: 'none', label: 'Does not repeat' },
  { kind: 'daily', label: 'Every day' },
  { kind: 'weekdays', label: 'Every weekday (Mon–Fri)' },
  { kind: 'weekly', label: 'Every week (same weekday)' },
  { kind: 'weekly-days', label: 'Every week on chosen days' },
  { kind: 'monthly', label: 'Every month (same day)' },
  { kind: 'monthly-day', label: 'Every month on day …' },
  { kind: 'monthly-nth', label: 'Every month on the n-th weekday' },
  { kind: 'yearly', label: 'Every year' },
  { kind: 'custom', label: 'Custom rule (RRULE or cron)' },
];

export interface RecurrenceForm {
  kind: RecurrenceKind;
  days: Weekday[];
  /** 1..31, or -1 for the last day. */
  monthDay: number;
  /** 1..4, or -1 for the last. */
  nth: number;
  nthDay: Weekday;
  custom: string;
  anchor: 'due' | 'completion';
  monthEnd: 'skip' | 'clamp';
}

export const emptyRecurrence = (): RecurrenceForm => ({
  kind: 'none',
  days: ['MO'],
  monthDay: 1,
  nth: 1,
  nthDay: 'MO',
  custom: 'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO',
  anchor: 'due',
  monthEnd: 'skip',
});

/** The rule string of the form, or null when the task does not repeat. */
export function ruleOf(form: RecurrenceForm): string | null {
  switch (form.kind) {
    case 'none':
      return null;
    case 'daily':
    case 'weekdays':
    case 'weekly':
    case 'monthly':
    case 'yearly':
      return form.kind;
    case 'weekly-days': {
      const days = WEEKDAYS.filter((d) => form.days.includes(d));
      return days.length > 0 ? `weekly:${days.join(',')}` : 'weekly';
    }
    case 'monthly-day':
      return `monthly:${form.monthDay}`;
    case 'monthly-nth':
      return `monthly:${form.nth}${form.nthDay}`;
    case 'custom':
      return form.custom.trim();
  }
}

export function recurrenceOf(form: RecurrenceForm): Recurrence | null {
  const rule = ruleOf(form);
  if (rule === null) return null;
  return { rule, anchor: form.anchor, month_end: form.monthEnd };
}

const SIMPLE = new Set(['daily', 'weekdays', 'weekly', 'monthly', 'yearly']);

/** The form for a stored recurrence: a preset when the rule is one, else a custom rule. */
export function formOf(recurrence: Recurrence | null | undefined): RecurrenceForm {
  const form = emptyRecurrence();
  if (!recurrence) return form;
  form.anchor = recurrence.anchor ?? 'due';
  form.monthEnd = recurrence.month_end ?? 'skip';
  const rule = recurrence.rule.trim();
  const lower = rule.toLowerCase();
  if (SIMPLE.has(lower)) return { ...form, kind: lower as RecurrenceKind };
  const weekly = /^weekly:((?:MO|TU|WE|TH|FR|SA|SU)(?:,(?:MO|TU|WE|TH|FR|SA|SU))*)$/i.exec(rule);
  if (weekly) return { ...form, kind: 'weekly-days', days: weekly[1]!.toUpperCase().split(',') as Weekday[] };
  const day = /^monthly:(-1|[1-9]|[12]\d|3[01])$/i.exec(rule);
  if (day) return { ...form, kind: 'monthly-day', monthDay: Number(day[1]) };
  const nth = /^monthly:(-1|[1-4])(MO|TU|WE|TH|FR|SA|SU)$/i.exec(rule);
  if (nth)
    return { ...form, kind: 'monthly-nth', nth: Number(nth[1]), nthDay: nth[2]!.toUpperCase() as Weekday };
  return { ...form, kind: 'custom', custom: rule };
}

const ORDINAL: Record<string, string> = {
  '1': 'first',
  '2': 'second',
  '3': 'third',
  '4': 'fourth',
  '-1': 'last',
};

/** A short text for a list: "Every weekday", "Monthly on the last Friday", or the rule itself. */
export function describeRule(rule: string): string {
  const form = formOf({ rule, anchor: 'due' });
  switch (form.kind) {
    case 'daily':
      return 'Every day';
    case 'weekdays':
      return 'Every weekday';
    case 'weekly':
      return 'Every week';
    case 'weekly-days':
      return `Weekly on ${form.days.map((d) => WEEKDAY_NAMES[d].slice(0, 3)).join(', ')}`;
    case 'monthly':
      return 'Every month';
    case 'monthly-day':
      return form.monthDay === -1 ? 'Monthly on the last day' : `Monthly on day ${form.monthDay}`;
    case 'monthly-nth':
      return `Monthly on the ${ORDINAL[String(form.nth)]} ${WEEKDAY_NAMES[form.nthDay]}`;
    case 'yearly':
      return 'Every year';
    default:
      return rule;
  }
}
