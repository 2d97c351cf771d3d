import {
  DeletePushSubscriptionBody,
  ListMailboxQuery,
  ListNotificationsQuery,
  Preferences,
  PushSubscriptionBody,
} from '@taskstream/contracts';
import {
  type Auth,
  badRequest,
  type Logger,
  notFound,
  type Pool,
  parse,
  principalOf,
} from '@taskstream/platform';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import type { NotificationRow } from './channels/in-app.js';
import type { PushChannel } from './channels/push.js';
import { PushTargetRefused } from './channels/push-target.js';
import { preferencesOf, savePreferences } from './preferences.js';

export interface RouteOptions {
  pool: Pool;
  auth: Auth;
  logger: Logger;
  push: PushChannel;
  mailMode: 'smtp' | 'mailbox';
  rememberContact: (principal: NonNullable<Request['principal']>) => Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Pages run newest first by id (UUIDv7, so by time); the cursor is the last id of a page. */
function cursorId(cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  if (!UUID.test(cursor))
    throw badRequest('invalid cursor', [{ path: 'cursor', message: 'not a cursor this API returned' }]);
  return cursor;
}

function pageOf<R extends { id: string }, T>(rows: R[], limit: number, map: (row: R) => T) {
  const items = rows.slice(0, limit);
  return { items: items.map(map), next_cursor: rows.length > limit ? items[items.length - 1]!.id : null };
}

const toNotification = (row: NotificationRow) => ({
  id: row.id,
  task_id: row.task_id,
  title: row.title,
  body: row.body,
  read: row.read_at !== null,
  created_at: row.created_at.toISOString(),
});

/** The in-app inbox, preferences, Web Push subscriptions, and the local mailbox (docs/ARCHITECTURE.md §6). */
export function notificationRoutes(options: RouteOptions): Router {
  const { pool, auth, push } = options;
  const router = Router();

  // Every signed-in call tells us where the user's reminder mail goes (the token's email claim).
  const remember: RequestHandler = (req, _res, next) => {
    options.rememberContact(principalOf(req)).then(
      () => next(),
      (err) => {
        req.log.warn({ err }, 'could not remember the contact address');
        next();
      },
    );
  };

  router.get('/api/notifications', auth.requireUser, remember, async (req, res) => {
    const query = parse(ListNotificationsQuery, req.query, 'query');
    const { userId } = principalOf(req);
    const after = cursorId(query.cursor);
    const { rows } = await pool.query<NotificationRow>(
      `SELECT * FROM notifications WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2)
         AND ($3::boolean IS NULL OR (read_at IS NULL) = $3)
       ORDER BY id DESC LIMIT $4`,
      [userId, after, query.unread === undefined ? null : query.unread === 'true', query.limit + 1],
    );
    const unread = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL',
      [userId],
    );
    res.json({ ...pageOf(rows, query.limit, toNotification), unread: unread.rows[0]!.n });
  });

  router.post('/api/notifications/read-all', auth.requireUser, remember, async (req, res) => {
    await pool.query('UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL', [
      principalOf(req).userId,
    ]);
    res.status(204).end();
  });

  router.post('/api/notifications/:id/read', auth.requireUser, remember, async (req, res) => {
    const id = String(req.params.id);
    // Another user's notification answers like a missing one.
    if (!UUID.test(id)) throw notFound('notification');
    const { rowCount } = await pool.query(
      'UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND user_id = $2',
      [id, principalOf(req).userId],
    );
    if (!rowCount) throw notFound('notification');
    res.status(204).end();
  });

  router.get('/api/preferences', auth.requireUser, remember, async (req, res) => {
    res.json(await preferencesOf(pool, principalOf(req).userId));
  });

  const setPreferences = async (req: Request, res: Response) => {
    const prefs = parse(Preferences, req.body);
    res.json(await savePreferences(pool, principalOf(req).userId, prefs));
  };
  router.put('/api/preferences', auth.requireUser, remember, setPreferences);
  router.post('/api/preferences', auth.requireUser, remember, setPreferences);

  router.post('/api/push/subscriptions', auth.requireUser, remember, async (req, res) => {
    const body = parse(PushSubscriptionBody, req.body);
    try {
      await push.checkEndpoint(body.endpoint);
    } catch (err) {
      // Refused, or a host that does not resolve: either way nothing to deliver to.
      const reason = err instanceof PushTargetRefused ? err.message : 'push endpoint host does not resolve';
      throw badRequest(`invalid body: endpoint: ${reason}`, [{ path: 'endpoint', message: reason }]);
    }
    await push.subscribe(principalOf(req).userId, body);
    res.status(201).end();
  });

  router.delete('/api/push/subscriptions', auth.requireUser, remember, async (req, res) => {
    const body = parse(DeletePushSubscriptionBody, req.body);
    await push.unsubscribe(principalOf(req).userId, body.endpoint);
    res.status(204).end();
  });

  router.get('/api/push/vapid-public-key', async (_req, res) => {
    res.json({ public_key: (await push.vapidKeys()).publicKey });
  });

  router.get('/api/mailbox', auth.requireUser, remember, async (req, res) => {
    const query = parse(ListMailboxQuery, req.query, 'query');
    const after = cursorId(query.cursor);
    const { rows } = await pool.query(
      `SELECT id, message_id, to_address, from_address, subject, text_body, html_body, created_at FROM mailbox
       WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
      [principalOf(req).userId, after, query.limit + 1],
    );
    res.json({
      mode: options.mailMode,
      ...pageOf(rows, query.limit, (row) => ({
        id: row.id,
        message_id: row.message_id,
        to: row.to_address,
        from: row.from_address,
        subject: row.subject,
        text: row.text_body,
        html: row.html_body,
        created_at: row.created_at.toISOString(),
      })),
    });
  });

  return router;
}
