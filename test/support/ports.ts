/** Free ports for tests: the one implementation lives in mesh/ (the bench uses it too). */
export { freePort } from '../../mesh/ports';
