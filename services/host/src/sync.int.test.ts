import { eventually, signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { syncService } from '@taskstream/sync';
import { SyncClient, type SyncedEvent, type WebSocketConstructor } from '@taskstream/sync/client';
import { createTaskApiService } from '@taskstream/task-api';
import WebSocket from 'ws';

describe('sync behind task-api', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime([createTaskApiService, syncService({ replicaId: 'rest' })]);
  });
  afterAll(async () => rt?.close());

  it('delivers a task created over REST to the WebSocket client of its user', async () => {
    const { token, user } = await signUp(rt, {
      email: `sync-${Date.now()}@example.test`,
      password: 'correct horse battery',
      name: 'Sync',
    });

    const received: { sequence: number; event: SyncedEvent }[] = [];
    const client = new SyncClient({
      url: rt.url,
      token,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onEvent: (event, sequence) => received.push({ sequence, event }),
    }).start();
    try {
      await eventually(async () => client.state === 'open');
      const created = await rt.request('POST', '/api/tasks', {
        token,
        body: { title: 'Call the plumber', tags: ['home'] },
      });
      expect(created.status).toBe(201);
      const completed = await rt.request('POST', `/api/tasks/${created.body.id}/complete`, { token });
      expect(completed.status).toBe(200);

      await eventually(async () => received.length >= 2);
      expect(received.map((r) => [r.sequence, r.event.type, r.event.data.task_id])).toEqual([
        [1, 'com.taskstream.task.created', created.body.id],
        [2, 'com.taskstream.task.completed', created.body.id],
      ]);
      expect(received[0]!.event.data.user_id).toBe(user.id);
      expect((received[1]!.event.data.payload.task as { status: string }).status).toBe('completed');
    } finally {
      client.stop();
    }
  });
});
