import { createECDH, randomBytes } from 'node:crypto';
import webpush from 'web-push';
import { decryptAes128gcm } from './web-push-endpoint.js';

describe('decryptAes128gcm', () => {
  const receiver = createECDH('prime256v1');
  const publicKey = receiver.generateKeys();
  const authSecret = randomBytes(16);
  const subscription = {
    endpoint: 'https://push.example/x',
    keys: { p256dh: publicKey.toString('base64url'), auth: authSecret.toString('base64url') },
  };

  it('recovers what web-push encrypted for the subscription', () => {
    const message = JSON.stringify({
      title: 'Dentist',
      body: 'Due Tue 14:00',
      nonce: randomBytes(300).toString('hex'),
    });
    const { body } = webpush.generateRequestDetails(subscription, message, { contentEncoding: 'aes128gcm' });
    expect(decryptAes128gcm(body, receiver.getPrivateKey(), publicKey, authSecret).toString('utf8')).toBe(
      message,
    );
  });

  it('refuses a message for another auth secret or a tampered body', () => {
    const { body } = webpush.generateRequestDetails(subscription, 'hello', { contentEncoding: 'aes128gcm' });
    expect(() => decryptAes128gcm(body, receiver.getPrivateKey(), publicKey, randomBytes(16))).toThrow();
    const tampered = Buffer.from(body);
    tampered[tampered.length - 1] ^= 1;
    expect(() => decryptAes128gcm(tampered, receiver.getPrivateKey(), publicKey, authSecret)).toThrow();
  });
});
