// The nice value of each thread of this process, for tests of the threads that lower their own.
import { readdirSync, readFileSync } from 'node:fs';

export /** The nice value of each thread of this process, by thread id (Linux: /proc/self/task). */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command's closing parenthesis; the nice value is the 19th of stat(5).
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}
