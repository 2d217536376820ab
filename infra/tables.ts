import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TABLES, TTL_ATTRIBUTE, type TableRole } from '../src/adapters/dynamo/table-layout.js';

export type TableAccess = 'read' | 'readWrite';

// Transactions are authorised per item action, so these lists also cover TransactWriteItems/TransactGetItems.
const READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:ConditionCheckItem',
];
const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

/** The four tables, created from the same layout the local runtime uses for dynalite. */
export class TfgateTables extends Construct {
  readonly tables: Record<TableRole, dynamodb.Table>;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const make = (role: TableRole): dynamodb.Table => {
      const layout = TABLES[role];
      const table = new dynamodb.Table(this, pascal(role), {
        partitionKey: { name: layout.partitionKey, type: dynamodb.AttributeType.STRING },
        ...(layout.sortKey ? { sortKey: { name: layout.sortKey, type: dynamodb.AttributeType.STRING } } : {}),
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        timeToLiveAttribute: TTL_ATTRIBUTE,
        // Kept on stack deletion and replacement (run and lock history), but deleted when the stack's
        // first create rolls back, so a failed first deploy leaves nothing behind to block the next.
        // Not deletion-protected: that protection would also stop that rollback.
        removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
      });
      for (const index of layout.globalIndexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.ALL,
        });
      }
      return table;
    };
    this.tables = {
      runs: make('runs'),
      locks: make('locks'),
      approvals: make('approvals'),
      deliveries: make('deliveries'),
    };
  }

  /**
   * Item-level access to one table and its named indexes. Written out instead of `grantReadWriteData`
   * because that grant adds `table/index/*` and table-level actions nobody here calls.
   */
  grant(role: iam.IRole, tableRole: TableRole, access: TableAccess): void {
    const table = this.tables[tableRole];
    const indexArns = TABLES[tableRole].globalIndexes.map((index) => `${table.tableArn}/index/${index.name}`);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: access === 'read' ? READ_ACTIONS : [...READ_ACTIONS, ...WRITE_ACTIONS],
        resources: [table.tableArn],
      }),
    );
    if (indexArns.length > 0) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: indexArns }));
    }
  }
}

function pascal(role: TableRole): string {
  return `${role[0]!.toUpperCase()}${role.slice(1)}Table`;
}
