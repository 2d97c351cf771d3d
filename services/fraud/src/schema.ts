import type { Migration } from '@taskstream/platform';

export const fraudMigrations: Migration[] = [
  {
    id: '001_fraud',
    sql: `
      -- Events handled: a repeated delivery finds its id here and changes nothing.
      CREATE TABLE fraud_inbox (
        event_id uuid PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now()
      );
      -- What the scorer knows of each paying wallet: its earlier transactions.
      CREATE TABLE fraud_history (
        transaction_id uuid PRIMARY KEY,
        wallet_id uuid NOT NULL,
        counterparty uuid NOT NULL,
        amount bigint NOT NULL,
        at timestamptz NOT NULL
      );
      CREATE INDEX fraud_history_wallet ON fraud_history (wallet_id, at);
      CREATE INDEX fraud_history_pair ON fraud_history (wallet_id, counterparty);
      CREATE TABLE fraud_scores (
        transaction_id uuid PRIMARY KEY,
        wallet_id uuid NOT NULL,
        event_id uuid NOT NULL,
        score double precision NOT NULL,
        decision text NOT NULL CHECK (decision IN ('allow', 'hold')),
        factors jsonb NOT NULL,
        scored_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];
