/* A JIT workload for tests/tests/names.rs: spin() is compiled by HotSpot and
 * holds most samples. Run from source (java Hot.java SECONDS), so a JRE
 * (openjdk-17-jre-headless) is enough. */
public class Hot {
    static long spin(long n) {
        long x = 0;
        for (long i = 0; i < n; i++) { x = x * 31 + (i ^ (x >>> 7)); }
        return x;
    }
    public static void main(String[] args) {
        long until = System.nanoTime() + (long) (Double.parseDouble(args[0]) * 1e9);
        long sink = 0;
        while (System.nanoTime() < until) { sink += spin(100_000); }
        System.out.println(sink == 42 ? "" : "done");
    }
}
