// Shared fixtures of the config tests: provider schemas and built-in declarations like the real
// packages', a Grafana-style INI.
import { AtrestError } from '../src/errors.js';
import type { ProviderConfigSchema } from '../src/providers/contract.js';
import { loadConfig } from '../src/config/load.js';
import type { AtrestConfig, BuiltinProvider, LoadConfigOptions, ProviderSchemaContext } from '../src/config/types.js';

export const schemas: Readonly<Record<string, ProviderConfigSchema>> = {
  file: { key_path: { doc: 'Path of the key file', format: String, default: '', required: 'always' } },
  secret_key: {
    secret_key: {
      doc: 'Passphrase (16+ characters)',
      format: String,
      default: '',
      sensitive: true,
      required: 'in use',
      minLength: 16,
      label: 'passphrase',
    },
  },
  awskms: {
    key_id: { doc: 'KMS key id, key ARN, alias/… or alias ARN', format: String, default: '' },
    region: { doc: 'AWS region', format: String, default: '' },
    access_key_id: { doc: 'Access key id', format: String, default: '' },
    secret_access_key: { doc: 'Secret access key', format: String, default: '', sensitive: true },
    session_token: { doc: 'Session token', format: String, default: '', sensitive: true },
    endpoint: { doc: 'KMS endpoint', format: 'url', default: '' },
    ca_file: { doc: 'CA bundle', format: String, default: '' },
  },
  azurekv: {
    tenant_id: { doc: 'Tenant', format: String, default: '' },
    client_id: { doc: 'Client id', format: String, default: '' },
    client_secret: { doc: 'Client secret', format: String, default: '', sensitive: true },
    key_id: { doc: 'Key id', format: String, default: '' },
    vault_uri: { doc: 'Vault URI', format: 'url', default: '' },
  },
  // A third-party provider with typed keys.
  vault: {
    address: { doc: 'Vault address', format: 'url', default: '' },
    port: { doc: 'Port', format: 'port', default: 8200 },
    retries: { doc: 'Retries', format: 'nat', default: 3 },
    timeout: { doc: 'Request timeout', format: 'duration', default: 10_000 },
    verify_tls: { doc: 'Verify TLS', format: Boolean, default: true },
    mode: { doc: 'Mode', format: ['transit', 'kv'], default: 'transit' },
    ratio: { doc: 'Ratio', format: Number, default: 0.5 },
    token: { doc: 'Token', format: String, default: '', sensitive: true },
  },
};

/** The built-in types as the loader gives them: @atrest/provider-file's declarations, the cloud types bare. */
export const builtins: readonly BuiltinProvider[] = [
  {
    type: 'file',
    sharedConfig: {
      keys: [
        {
          section: 'default',
          key: 'key_path',
          env: ['ENCRYPTION_KEY_PATH'],
          doc: 'Path of the key file of file.default',
          default: (app) => `/srv/${app}-encryption.key`,
        },
      ],
      defaultProvider: { section: 'default', when: 'otherwise' },
    },
  },
  {
    type: 'secret_key',
    sharedConfig: {
      keys: [
        {
          section: 'default',
          key: 'secret_key',
          ini: 'security.secret_key',
          env: ['ENCRYPTION_SECRET_KEY', 'SECURITY_SECRET_KEY'],
          doc: 'Passphrase of the secret_key.default provider (16+ characters)',
          sensitive: true,
        },
      ],
      idAliases: { 'secretKey.v1': 'default' },
      defaultProvider: { section: 'default', when: 'configured' },
    },
  },
  { type: 'awskms' },
  { type: 'azurekv' },
];

/** The calls `providerSchema` received, for assertions. */
export type SchemaCall = { type: string; context: ProviderSchemaContext };

/** A providerSchema like the lead's loader: known types answer, others are not installed. */
export function schemaSource(extra: Readonly<Record<string, ProviderConfigSchema>> = {}): {
  providerSchema: (type: string, context: ProviderSchemaContext) => Promise<ProviderConfigSchema>;
  calls: SchemaCall[];
} {
  const calls: SchemaCall[] = [];
  const all: Record<string, ProviderConfigSchema> = { ...schemas, ...extra };
  return {
    calls,
    providerSchema: async (type, context) => {
      calls.push({ type, context });
      const schema = all[type];
      if (schema === undefined) {
        throw new AtrestError(
          'ATREST_PROVIDER_NOT_INSTALLED',
          `Provider type "${type}" needs package atrest-provider-${type}: pnpm add atrest-provider-${type}.`,
          {
            details: { type },
          },
        );
      }
      return schema;
    },
  };
}

/** loadConfig with an empty environment and the test schemas unless told otherwise. */
export function load(options: Partial<LoadConfigOptions> = {}): Promise<AtrestConfig> {
  return loadConfig({ env: {}, builtinProviders: builtins, providerSchema: schemaSource().providerSchema, ...options });
}

/** Grafana's own CSP template: a value holding `;` and quotes, triple-quoted as go-ini writes it. */
const CSP_TEMPLATE = `"""${
  `script-src 'self' 'unsafe-eval' 'unsafe-inline' 'strict-dynamic' $NONCE;object-src 'none';` +
  `font-src 'self';style-src 'self' 'unsafe-inline' blob:;img-src * data:;base-uri 'self';` +
  `connect-src 'self' grafana.com ws://$ROOT_PATH wss://$ROOT_PATH;manifest-src 'self';` +
  `media-src 'none';form-action 'self';`
}"""`;
const GRAFANA_TARGETS =
  'data_source.secure_json_data:json alert_configuration.alertmanager_configuration:json user_auth.o_auth_access_token';

/** A realistic host INI file in the style of Grafana's defaults.ini: many sections, atrest's keys among them. */
export const GRAFANA_STYLE_INI = `##################### Grafana Configuration Defaults #####################
#
# Do not modify this file in grafana installs
#

# possible values : production, development
app_mode = production

# instance name, defaults to HOSTNAME environment variable value or hostname if HOSTNAME var is empty
instance_name = \${HOSTNAME}

#################################### Paths ###############################
[paths]
# Path to where grafana can store temp files, sessions, and the sqlite3 db (if that is used)
data = data

# Temporary files in \`data\` directory older than given duration will be removed
temp_data_lifetime = 24h

logs = data/log
plugins = data/plugins
provisioning = conf/provisioning

#################################### Server ##############################
[server]
protocol = http
min_tls_version = ""
http_addr =
http_port = 3000
domain = localhost
enforce_domain = false
root_url = %(protocol)s://%(domain)s:%(http_port)s/
serve_from_sub_path = false
router_logging = false
static_root_path = public
enable_gzip = false
cert_file =
cert_key =
socket_gid = -1
socket_mode = 0660
socket = /tmp/grafana.sock
cdn_url =
read_timeout = 0

#################################### Database ############################
[database]
# You can configure the database connection by specifying type, host, name, user and password
# as separate properties or as on string using the url property.

# Either "mysql", "postgres" or "sqlite3", it's your choice
type = sqlite3
host = 127.0.0.1:3306
name = grafana
user = root
# If the password contains # or ; you have to wrap it with triple quotes. Ex """#password;"""
password =
# For "sqlite3" only, path relative to data_path setting
path = grafana.db
max_idle_conn = 2
max_open_conn =
conn_max_lifetime = 14400
log_queries =
ssl_mode = disable
isolation_level =
ca_cert_path =
client_key_path =
client_cert_path =
server_cert_name =
cache_mode = private
wal = false

#################################### Cache server #############################
[remote_cache]
type = database
connstr =
prefix =
encryption =

#################################### Security ############################
[security]
# disable creation of admin user on first start of grafana
disable_initial_admin_creation = false

# default admin user, created on startup
admin_user = admin

# default admin password, can be changed before first start of grafana, or in profile settings
admin_password = admin

# default admin email, created on startup
admin_email = admin@localhost

# used for signing
secret_key = SW2YcwTIb9zpOOhoPsMm

# encryption provider key in the format <PROVIDER>.<KEY_NAME>
encryption_provider = awskms.example-encryption-key

# list of configured key providers, space separated
available_encryption_providers = secret_key.default awskms.example-encryption-key

# disable gravatar profile images
disable_gravatar = false

# data source proxy whitelist (ip_or_domain:port separated by spaces)
data_source_proxy_whitelist =

# disable protection against brute force login attempts
disable_brute_force_login_protection = false

# set to true if you host Grafana behind HTTPS. default is false.
cookie_secure = false

# set cookie SameSite attribute. defaults to \`lax\`. can be set to "lax", "strict", "none" and "disabled"
cookie_samesite = lax

# set to true if you want to allow browsers to render Grafana in a <frame>, <iframe>, <embed> or <object>.
allow_embedding = false

# Set to true if you want to enable http strict transport security (HSTS) response header.
strict_transport_security = false
strict_transport_security_max_age_seconds = 86400
x_content_type_options = true
x_xss_protection = true
content_security_policy = false
content_security_policy_template = ${CSP_TEMPLATE}
angular_support_enabled = true

[security.encryption]
# Defines the time-to-live (TTL) for decrypted data encryption keys stored in memory (cache).
# Please note that small values may cause performance issues due to a high frequency decryption operations.
data_keys_cache_ttl = 15m

# AWS key management service provider setup
[security.encryption.awskms.example-encryption-key]
# Reference to a KMS key - either key ID, key ARN, alias name, or ARN
key_id = 1234abcd-12ab-34cd-56ef-1234567890ab
# AWS access key ID
access_key_id = AKIAIOSFODNN7EXAMPLE
# AWS secret access key
secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
# AWS region, for example eu-north-1
region = eu-north-1

#################################### Snapshots ###########################
[snapshots]
external_enabled = true
external_snapshot_url = https://snapshots.raintank.io
external_snapshot_name = Publish to snapshots.raintank.io
public_mode = false
snapshot_remove_expired = true

#################################### Users ###############################
[users]
allow_sign_up = false
allow_org_create = false
auto_assign_org = true
auto_assign_org_id = 1
auto_assign_org_role = Viewer
verify_email_enabled = false
login_hint = email or username
password_hint = password
default_theme = dark

[auth]
login_cookie_name = grafana_session
login_maximum_inactive_lifetime_duration =
login_maximum_lifetime_duration =
token_rotation_interval_minutes = 10
disable_login_form = false
oauth_auto_login = false

[auth.anonymous]
enabled = false
org_name = Main Org.
org_role = Viewer
hide_version = false

[auth.generic_oauth]
name = OAuth
enabled = false
allow_sign_up = true
client_id = some_id
client_secret =
scopes = user:email
auth_url =
token_url =
api_url =

[smtp]
enabled = false
host = localhost:25
user =
# If the password contains # or ; you have to wrap it with triple quotes. Ex """#password;"""
password =
cert_file =
key_file =
skip_verify = false
from_address = admin@grafana.localhost
from_name = Grafana

[log]
mode = console file
level = info
filters =

[unified_alerting]
enabled =
disabled_orgs =
admin_config_poll_interval = 60s
evaluation_timeout = 30s
max_attempts = 3

[secrets_migration]
targets = ${GRAFANA_TARGETS}

[feature_toggles]
enable = secretsEncryption envelopeEncryption
`;
