// The shared provider conformance suite, against the Azure Key Vault emulator, for both algorithms.
import { runProviderConformance } from '@atrest/testkit';
import t from 'tap';
import { createAzureKeyVaultProvider, wrapAlgorithms } from '../src/index.js';
import { configFor, createOptions, emulator } from './helpers/provider.js';

t.test('azurekv conformance', async (t) => {
  const emu = await emulator(t);
  emu.createKey('other-kek');
  for (const algorithm of wrapAlgorithms) {
    await t.test(algorithm, async (t) => {
      await runProviderConformance(t, {
        create: () => createAzureKeyVaultProvider(createOptions('azurekv.main', configFor(emu, { algorithm }))),
        createOther: () =>
          createAzureKeyVaultProvider(
            createOptions('azurekv.other', configFor(emu, { algorithm, key_id: 'other-kek' })),
          ),
      });
    });
  }
});
