export {
  HORIZON_YEARS,
  MAX_CANDIDATES,
  MAX_CRON_STEPS,
  MAX_ITERATIONS,
  type MonthEnd,
  RecurrenceRuleError,
  SUB_DAILY_HORIZON_DAYS,
} from './engine.js';
export { MAX_COUNT, MAX_INTERVAL, type ParsedRule, parseRuleSyntax } from './grammar.js';
export {
  type Anchor,
  checkTimeZone,
  type DateInput,
  MAX_PREVIEW,
  type NextOccurrence,
  type NextOccurrenceInput,
  nextOccurrence,
  type ParseRuleOptions,
  type ParseRuleResult,
  type PreviewInput,
  parseRule,
  previewOccurrences,
  type RecurrenceSpec,
  type ShiftWithDueInput,
  shiftWithDue,
  type TaskRecurrenceFields,
  validateRecurrenceForTask,
} from './recurrence.js';
