// Moved to the domain, where both compositions (AWS and local) take it from with the feedback store.
export { recordGrantsAsPlanning } from '../domain/run-tracking.js';
