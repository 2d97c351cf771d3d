import nodemailer from 'nodemailer';
import { parseMail } from './mime.js';

describe('parseMail', () => {
  it('reads back what nodemailer composes: encoded subject, text and html parts', async () => {
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
    const text = `Grüße — ${'a long line '.repeat(12)}\nDue: 14:00`;
    const info = await transport.sendMail({
      from: 'a@x.test',
      to: 'b@x.test',
      subject: 'Reminder: Zahnarzt ✓',
      text,
      html: '<p>Hallo</p>',
    });
    const mail = parseMail(info.message.toString());
    expect(mail.subject).toBe('Reminder: Zahnarzt ✓');
    expect(mail.text.replace(/\r\n/g, '\n')).toBe(text);
    expect(mail.html).toBe('<p>Hallo</p>');
  });
});
