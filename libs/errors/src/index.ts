export { BowlineError, type FieldProblem } from './bowline-error';
export { defineErrorKind, Kinds, type ErrorKind } from './kinds';
export { ProblemFilter, PROBLEM_CONTENT_TYPE } from './problem.filter';
