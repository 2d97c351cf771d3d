import { composeReminder, formatDue } from './compose.js';

const facts = {
  reminder_id: '0190a1b2-0000-7000-8000-000000000001.0',
  task_id: '0190a1b2-0000-7000-8000-000000000001',
  title: 'Pay <rent> & bills',
  due_date: '2025-11-25T13:00:00.000Z',
  time_zone: 'Europe/Berlin',
};

describe('composeReminder', () => {
  it('names the task and its due time in the task zone on every channel', () => {
    const content = composeReminder(facts, 'https://tasks.example.com');
    expect(content.subject).toBe('Reminder: Pay <rent> & bills');
    expect(formatDue(facts.due_date, facts.time_zone)).toMatch(/25 Nov 2025.*14:00/);
    const due = formatDue(facts.due_date, facts.time_zone);
    expect(content.text).toContain(`Due: ${due} (Europe/Berlin)`);
    expect(content.text).toContain('https://tasks.example.com/tasks/0190a1b2-0000-7000-8000-000000000001');
    expect(content.push).toMatchObject({ title: facts.title, body: `Due ${due}`, tag: facts.reminder_id });
    expect(content.summary).toBe(`Due ${due}`);
  });

  it('escapes the title in HTML', () => {
    const { html } = composeReminder(facts);
    expect(html).toContain('Pay &lt;rent&gt; &amp; bills');
    expect(html).not.toContain('<rent>');
  });

  it('says so when the task has no due date, and links relative without a public URL', () => {
    const content = composeReminder({ ...facts, due_date: null });
    expect(content.text).toContain('no due date');
    expect(content.summary).toBe('No due date');
    expect(content.push.data.url).toBe('/tasks/0190a1b2-0000-7000-8000-000000000001');
  });
});
