export { handleAdmin, isAdminPath, toJson } from './admin-api.js';
