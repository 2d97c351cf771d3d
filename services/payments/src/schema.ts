import type { Migration } from '@taskstream/platform';

/**
 * The ledger (ADR 0017). A wallet's `balance` is the projection of its entries, written in the
 * transaction that writes them; `CHECK` keeps a user's wallet from going below zero whatever the
 * code does, and a deferred constraint trigger refuses a commit whose entries of a transaction do
 * not sum to zero (double entry).
 */
export const paymentsMigrations: Migration[] = [
  {
    id: '001_ledger',
    sql: `
      CREATE TABLE wallets (
        id uuid PRIMARY KEY,
        user_id uuid,
        kind text NOT NULL CHECK (kind IN ('user', 'funding', 'payout')),
        name text NOT NULL,
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        balance bigint NOT NULL DEFAULT 0,
        version bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT wallet_owner CHECK ((kind = 'user') = (user_id IS NOT NULL)),
        -- The system wallets carry the other side of deposits (funding: minus all money ever
        -- deposited) and withdrawals; only they may be negative.
        CONSTRAINT balance_not_negative CHECK (kind <> 'user' OR balance >= 0)
      );
      CREATE INDEX wallets_user ON wallets (user_id, id);
      CREATE UNIQUE INDEX wallets_system ON wallets (kind, currency) WHERE kind <> 'user';

      CREATE TABLE payment_transactions (
        id uuid PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('transfer', 'withdrawal', 'deposit')),
        status text NOT NULL CHECK (status IN ('created', 'held', 'completed', 'failed', 'reversed')),
        from_wallet_id uuid NOT NULL REFERENCES wallets,
        to_wallet_id uuid NOT NULL REFERENCES wallets,
        amount bigint NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        description text NOT NULL,
        reason text CHECK (reason IN ('insufficient_funds', 'fraud_suspected')),
        fraud_score double precision,
        created_by uuid NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CHECK (from_wallet_id <> to_wallet_id),
        CHECK ((status = 'failed') = (reason IS NOT NULL))
      );
      CREATE INDEX payment_transactions_from ON payment_transactions (from_wallet_id, id);
      CREATE INDEX payment_transactions_to ON payment_transactions (to_wallet_id, id);
      CREATE INDEX payment_transactions_status ON payment_transactions (status, id);

      -- One posting per transaction and one reversal of it, each a debit and a credit.
      CREATE TABLE ledger_entries (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id uuid NOT NULL REFERENCES payment_transactions,
        wallet_id uuid NOT NULL REFERENCES wallets,
        posting text NOT NULL CHECK (posting IN ('post', 'reverse')),
        amount bigint NOT NULL CHECK (amount <> 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (transaction_id, posting, wallet_id)
      );
      CREATE INDEX ledger_entries_wallet ON ledger_entries (wallet_id);

      CREATE FUNCTION ledger_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF (SELECT coalesce(sum(amount), 0) FROM ledger_entries
            WHERE transaction_id = NEW.transaction_id AND posting = NEW.posting) <> 0 THEN
          RAISE EXCEPTION 'ledger entries of transaction % (%) do not balance', NEW.transaction_id, NEW.posting
            USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER ledger_balanced AFTER INSERT ON ledger_entries
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_balanced();

      -- An Idempotency-Key names what it created (a wallet or a transaction), kept with it.
      CREATE TABLE payment_idempotency_keys (
        user_id uuid NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        resource_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, key)
      );
      CREATE INDEX payment_idempotency_keys_created ON payment_idempotency_keys (created_at);
    `,
  },
];
