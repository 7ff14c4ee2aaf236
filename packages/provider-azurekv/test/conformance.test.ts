// The shared provider conformance suite, against the Azure Key Vault emulator, for both algorithms.
import { runProviderConformance } from '@atrest/testkit';
import t from 'tap';
import { azureKeyVaultProvider, wrapAlgorithms } from '../src/index.js';
import { configFor, emulator } from './helpers/provider.js';

t.test('azurekv conformance', async (t) => {
  const emu = await emulator(t);
  emu.createKey('other-kek');
  for (const algorithm of wrapAlgorithms) {
    await t.test(algorithm, async (t) => {
      await runProviderConformance(t, {
        definition: azureKeyVaultProvider,
        type: 'azurekv',
        config: configFor(emu, { algorithm }),
        otherConfig: configFor(emu, { algorithm, key_id: 'other-kek' }),
      });
    });
  }
});
