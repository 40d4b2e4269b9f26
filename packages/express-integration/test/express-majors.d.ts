// The two Express majors are installed under aliases (express4, express5) so both are
// tested; @types/express (5.x) describes both closely enough for the tests.
declare module 'express4' {
  import express from 'express';
  export default express;
}
declare module 'express5' {
  import express from 'express';
  export default express;
}
