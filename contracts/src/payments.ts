import { z } from 'zod';
import { Cursor, DateTime, Limit, page, StoredText } from './common.js';

/**
 * Payments (ADR 0017): wallets, transactions and their lifecycle. Amounts are integer minor units
 * (cents for USD, yen for JPY) with the wallet's ISO 4217 currency: no floating point anywhere.
 */
export const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/, 'an ISO 4217 code in capitals, e.g. EUR')
  .describe('ISO 4217 alphabetic code');
export type Currency = z.infer<typeof Currency>;

/** At most 2^53 - 1 minor units: the largest integer JSON round-trips exactly (PostgreSQL bigint holds it). */
export const MinorUnits = z
  .number()
  .int()
  .min(1)
  .max(Number.MAX_SAFE_INTEGER)
  .describe('integer minor units of the currency (cents), positive');

export const WalletKind = z
  .enum(['user', 'funding', 'payout'])
  .describe(
    'user: owned by a user, never negative; funding/payout: the system side of deposits and withdrawals',
  );

export const Wallet = z
  .object({
    id: z.uuid(),
    user_id: z.uuid().nullable().describe('null for the system wallets'),
    kind: WalletKind,
    name: z.string(),
    currency: Currency,
    balance: z.number().int().describe('minor units; the sum of the ledger entries of this wallet'),
    version: z.number().int().nonnegative().describe('changes of the balance so far'),
    created_at: DateTime,
  })
  .meta({ id: 'Wallet' });
export type Wallet = z.infer<typeof Wallet>;

export const CreateWalletBody = z
  .strictObject({
    currency: Currency,
    name: StoredText().trim().min(1).max(100).default('Wallet'),
  })
  .meta({ id: 'CreateWalletBody' });
export type CreateWalletBody = z.infer<typeof CreateWalletBody>;

export const WalletPage = page(Wallet).meta({ id: 'WalletPage' });

export const TransactionKind = z.enum(['transfer', 'withdrawal', 'deposit']);
export type TransactionKind = z.infer<typeof TransactionKind>;

/**
 * created → completed | failed | held; held → completed | failed; completed → reversed. Nothing
 * else: a refused transition is a 409 naming both states.
 */
export const TransactionStatus = z.enum(['created', 'held', 'completed', 'failed', 'reversed']);
export type TransactionStatus = z.infer<typeof TransactionStatus>;

export const FailureReason = z.enum(['insufficient_funds', 'fraud_suspected']);
export type FailureReason = z.infer<typeof FailureReason>;

export const Transaction = z
  .object({
    id: z.uuid().describe('UUIDv7'),
    kind: TransactionKind,
    status: TransactionStatus,
    from_wallet_id: z.uuid().describe('the debited wallet (a funding wallet for a deposit)'),
    to_wallet_id: z.uuid().describe('the credited wallet (a payout wallet for a withdrawal)'),
    amount: MinorUnits,
    currency: Currency,
    description: z.string(),
    reason: FailureReason.nullable().describe('why it failed; null unless failed'),
    fraud_score: z.number().min(0).max(1).nullable().describe('null until scored'),
    created_by: z.uuid(),
    created_at: DateTime,
    updated_at: DateTime,
  })
  .meta({ id: 'Transaction' });
export type Transaction = z.infer<typeof Transaction>;

/**
 * The fields a transfer and a withdrawal share, in the order the parsed body keeps: the
 * Idempotency-Key's request hash is taken over the parsed body, so reordering them would make a
 * retry of a request hashed before look like another body.
 */
const sharedFields = {
  from_wallet_id: z.uuid(),
  amount: MinorUnits,
  description: StoredText().max(500).default(''),
};

/** Money between two wallets of one currency; the kind a body without `kind` has. */
export const CreateTransferBody = z
  .strictObject({
    kind: z.literal('transfer').default('transfer'),
    from_wallet_id: sharedFields.from_wallet_id,
    to_wallet_id: z
      .uuid({
        error: (issue) => (issue.input === undefined ? 'a transfer needs to_wallet_id' : undefined),
      })
      .describe('the credited wallet: of the same currency, and not from_wallet_id'),
    amount: sharedFields.amount,
    description: sharedFields.description,
  })
  // Which wallets exist and whose they are is the ledger's to say; two equal ids are not a
  // transfer whatever they name.
  .refine((body) => body.to_wallet_id !== body.from_wallet_id, {
    path: ['to_wallet_id'],
    message: 'a transfer needs two different wallets',
  })
  .meta({ id: 'CreateTransferBody' });

/** Money out of the system: it goes to the payout wallet of the currency, so there is no `to_wallet_id`. */
export const CreateWithdrawalBody = z
  .strictObject({
    kind: z.literal('withdrawal'),
    from_wallet_id: sharedFields.from_wallet_id,
    // Named (as `not: {}` in JSON Schema) rather than left to strictness, so the refusal names
    // the field and says why.
    to_wallet_id: z
      .never({ error: 'a withdrawal goes out of the system: to_wallet_id is not allowed' })
      .optional()
      .describe('not allowed: the payout wallet of the currency is credited'),
    amount: sharedFields.amount,
    description: sharedFields.description,
  })
  .meta({ id: 'CreateWithdrawalBody' });

/**
 * A transfer or a withdrawal, told apart by `kind` (ADR 0017): a `oneOf` in the OpenAPI document,
 * without a `discriminator` object, which OpenAPI 3.1 allows only for a required property.
 */
export const CreateTransactionBody = z
  .discriminatedUnion('kind', [CreateTransferBody, CreateWithdrawalBody], {
    error: (issue) =>
      issue.code === 'invalid_union' ? "kind is 'transfer' (the default) or 'withdrawal'" : undefined,
  })
  .meta({
    id: 'CreateTransactionBody',
    description:
      'a transfer (`kind` absent or `transfer`, `to_wallet_id` required) or a withdrawal (`kind: withdrawal`, no `to_wallet_id`)',
  });
export type CreateTransactionBody = z.infer<typeof CreateTransactionBody>;

/** Money into a wallet from the system's funding wallet of its currency (admins only). */
export const CreateDepositBody = z
  .strictObject({ amount: MinorUnits, description: StoredText().max(500).default('') })
  .meta({ id: 'CreateDepositBody' });
export type CreateDepositBody = z.infer<typeof CreateDepositBody>;

export const FailTransactionBody = z
  .strictObject({ reason: FailureReason.default('fraud_suspected') })
  .meta({ id: 'FailTransactionBody' });

export const ListTransactionsQuery = z
  .strictObject({
    wallet_id: z.uuid().optional().describe('only transactions debiting or crediting this wallet'),
    status: TransactionStatus.optional(),
    kind: TransactionKind.optional(),
    created_after: DateTime.optional(),
    created_before: DateTime.optional(),
    cursor: Cursor.optional(),
    limit: Limit.default(50),
  })
  .meta({ id: 'ListTransactionsQuery' });
export type ListTransactionsQuery = z.infer<typeof ListTransactionsQuery>;

export const TransactionPage = page(Transaction).meta({ id: 'TransactionPage' });

export const WalletIdParams = z.strictObject({ id: z.uuid() });
export const TransactionIdParams = z.strictObject({ id: z.uuid() });

/** The rule-based fraud score's parts (ADR 0018), each in 0..1 before its weight. */
export const FraudFactors = z.object({
  amount: z.number().min(0).max(1).describe("the amount against the wallet's history"),
  velocity: z.number().min(0).max(1).describe('transactions of the wallet in the velocity window'),
  new_counterparty: z.number().min(0).max(1).describe('1 when the wallet never paid this counterparty'),
});
