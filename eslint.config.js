// ESLint flat config. Base: typescript-eslint's `recommended` set (syntax-only), plus the type-aware rules
// that find real bugs in an async, worker-thread code base. We do not take `recommendedTypeChecked` whole:
// its no-unsafe-* family mostly flags msgpack/JSON boundaries that are validated by hand, and drowns the
// findings that matter (a dropped promise, a promise passed where a callback is expected). Also left out,
// after a trial run over the tree: unbound-method (11 hits, all static helpers such as Buffer.compare or gRPC
// stubs the caller rebinds), no-unsafe-enum-comparison (4, wire bytes compared with enum members on purpose)
// and no-unnecessary-condition (60, mostly defensive checks of validated network input).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // Generated code (headers say "DO NOT EDIT": scripts/gen-proto.mjs, gen-wire-schema.mjs,
    // gen-bench-proto.mjs) and build output.
    ignores: ['dist/**', 'node_modules/**', 'src/proto/**', 'bench/proto-gen/**', 'data/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        // Node.js globals this code base uses; listed rather than pulling in the `globals` package.
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        clearImmediate: 'readonly',
        queueMicrotask: 'readonly',
        structuredClone: 'readonly',
        performance: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        globalThis: 'readonly',
      },
      parserOptions: {
        projectService: {
          // Plain JS files outside tsconfig.json (scripts, test fixtures, this file) get a default project
          // so the type-aware rules below run on them too.
          allowDefaultProject: [
            '*.js',
            'scripts/*.mjs',
            'bench/scripts/*.mjs',
            'scripts/load/*.mjs',
            'test/raftstore/fixtures/*.mjs',
            'src/scheduler/http/dashboard/*.js',
          ],
          maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 20,
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A variable a closure reads before its one assignment (a timer's callback cancelling the
      // call it times out) cannot be a const; only flag lets that could be.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Type-aware rules that catch real bugs.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        // A `default:` branch is a deliberate choice to handle the rest; only switches without one must be
        // exhaustive.
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/no-implied-eval': 'error',
      '@typescript-eslint/no-array-delete': 'error',
      '@typescript-eslint/no-base-to-string': 'error',
      '@typescript-eslint/no-duplicate-type-constituents': 'error',
      '@typescript-eslint/no-redundant-type-constituents': 'error',
      '@typescript-eslint/no-misused-spread': 'error',
      '@typescript-eslint/no-meaningless-void-operator': 'error',
      '@typescript-eslint/restrict-template-expressions': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // Off: an `async` function without `await` is used on purpose here to turn a synchronous throw into a
      // rejection (and to satisfy interfaces that return promises); the rule would flag those, not bugs.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        // A leading underscore marks a parameter or binding kept for its position (callbacks, destructuring).
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // The dashboard's script runs in the browser (served as is by the scheduler).
    files: ['src/scheduler/http/dashboard/*.js'],
    languageOptions: {
      globals: { document: 'readonly', fetch: 'readonly', Node: 'readonly' },
    },
  },
);
