// The two Express majors the tests run against, installed under aliases (package.json:
// "express4": "npm:express@^4", "express5": "npm:express@^5"). Both are typed with
// @types/express, whose API the tests use only where the majors agree.
declare module 'express4' {
  import express from 'express';
  export default express;
}

declare module 'express5' {
  import express from 'express';
  export default express;
}
