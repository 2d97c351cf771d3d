import { RecurrencePreviewBody } from '@taskstream/contracts';
import { type Auth, HttpError, parse } from '@taskstream/platform';
import { previewOccurrences, RecurrenceRuleError } from '@taskstream/recurrence';
import { Router } from 'express';

/** `POST /api/recurrence/preview`: the due dates of a series' first tasks, for the UI. */
export function recurrenceRoutes(auth: Auth): Router {
  const router = Router();
  router.post('/api/recurrence/preview', auth.requireUser, (req, res) => {
    const body = parse(RecurrencePreviewBody, req.body);
    try {
      const occurrences = previewOccurrences({
        rule: body.rule,
        start: body.start,
        timeZone: body.time_zone,
        monthEnd: body.month_end,
        count: body.count,
      });
      res.json({ occurrences });
    } catch (err) {
      if (err instanceof RecurrenceRuleError) {
        // The shape of a body validation error, so clients handle both alike.
        throw new HttpError(400, 'validation_failed', `invalid body: rule: ${err.reason}`, [
          { path: 'rule', message: err.reason },
        ]);
      }
      throw err;
    }
  });
  return router;
}
