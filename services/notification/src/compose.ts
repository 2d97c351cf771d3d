/** What a reminder says, on every channel. Pure: the same input gives the same text. */

export interface ReminderFacts {
  reminder_id: string;
  task_id: string;
  title: string;
  due_date: string | null;
  time_zone: string;
}

export interface ReminderContent {
  subject: string;
  text: string;
  html: string;
  /** Body of the in-app notification and of the push message. */
  summary: string;
  push: {
    title: string;
    body: string;
    tag: string;
    data: { task_id: string; reminder_id: string; due_date: string | null; url: string };
  };
}

/** The due time in the task's own zone, e.g. "Tue, 25 Nov 2025, 14:00 CET". */
const formats = new Map<string, Intl.DateTimeFormat>();

export function formatDue(dueDate: string, timeZone: string): string {
  let format = formats.get(timeZone);
  if (!format) {
    format = dueFormat(timeZone);
    if (formats.size < 1000) formats.set(timeZone, format);
  }
  return format.format(new Date(dueDate));
}

function dueFormat(timeZone: string) {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  });
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function composeReminder(facts: ReminderFacts, publicUrl?: string): ReminderContent {
  const due = facts.due_date ? formatDue(facts.due_date, facts.time_zone) : undefined;
  const summary = due ? `Due ${due}` : 'No due date';
  const path = `/tasks/${facts.task_id}`;
  const link = publicUrl ? new URL(path, publicUrl).toString() : undefined;
  const text = [
    `Reminder: ${facts.title}`,
    '',
    due ? `Due: ${due} (${facts.time_zone})` : 'This task has no due date.',
    ...(link ? ['', `Open the task: ${link}`] : []),
    '',
    'You get this mail because the task has an email reminder. Notification preferences are in the app settings.',
  ].join('\n');
  const html = [
    `<p><strong>Reminder:</strong> ${escapeHtml(facts.title)}</p>`,
    due
      ? `<p>Due: ${escapeHtml(due)} (${escapeHtml(facts.time_zone)})</p>`
      : '<p>This task has no due date.</p>',
    link ? `<p><a href="${escapeHtml(link)}">Open the task</a></p>` : '',
  ].join('\n');
  return {
    subject: `Reminder: ${facts.title}`,
    text,
    html,
    summary,
    push: {
      title: facts.title,
      body: summary,
      tag: facts.reminder_id,
      data: {
        task_id: facts.task_id,
        reminder_id: facts.reminder_id,
        due_date: facts.due_date,
        url: link ?? path,
      },
    },
  };
}
