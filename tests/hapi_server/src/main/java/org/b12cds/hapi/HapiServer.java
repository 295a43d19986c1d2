package org.b12cds.hapi;

import ca.uhn.fhir.rest.server.RestfulServer;
import java.net.InetSocketAddress;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

/**
 * Starts a HAPI FHIR JPA server (FHIR R4, in-memory H2 database, no security) at
 * http://HOST:PORT/fhir for b12-cds's integration tests and for developers without Docker.
 *
 * <p>Options (each also read from the environment variable in brackets):
 * --port N [HAPI_PORT, default 8091], --host ADDRESS [HAPI_HOST, default 127.0.0.1],
 * --page-size N [HAPI_PAGE_SIZE, default 20: the page size when a search gives no _count],
 * --max-page-size N [HAPI_MAX_PAGE_SIZE, default 200: the largest _count honoured].
 * It prints one line "HAPI FHIR ... ready at URL" when it answers, and runs until it is stopped.
 */
public final class HapiServer {

    private HapiServer() {}

    public static void main(String[] args) throws Exception {
        long started = System.nanoTime();
        Settings settings = Settings.parse(args);
        AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext();
        spring.registerBean(Settings.class, () -> settings);
        spring.register(HapiConfig.class);
        spring.refresh();

        ServletContextHandler context = new ServletContextHandler();
        context.addServlet(new ServletHolder(spring.getBean(RestfulServer.class)), "/fhir/*");
        Server jetty = new Server(new InetSocketAddress(settings.host(), settings.port()));
        jetty.setHandler(context);
        jetty.setStopAtShutdown(true);
        Runtime.getRuntime().addShutdownHook(new Thread(spring::close));
        jetty.start();
        System.out.printf("HAPI FHIR %s (R4, in-memory H2) ready at http://%s:%d/fhir in %.1f s%n",
                ca.uhn.fhir.util.VersionUtil.getVersion(), settings.host(), settings.port(),
                (System.nanoTime() - started) / 1e9);
        jetty.join();
    }

    /** The server's settings, from the command line first, then the environment, then the defaults. */
    public record Settings(String host, int port, int pageSize, int maxPageSize) {

        static Settings parse(String[] args) {
            return new Settings(
                    option(args, "--host", "HAPI_HOST", "127.0.0.1"),
                    Integer.parseInt(option(args, "--port", "HAPI_PORT", "8091")),
                    Integer.parseInt(option(args, "--page-size", "HAPI_PAGE_SIZE", "20")),
                    Integer.parseInt(option(args, "--max-page-size", "HAPI_MAX_PAGE_SIZE", "200")));
        }

        private static String option(String[] args, String flag, String variable, String fallback) {
            for (int i = 0; i + 1 < args.length; i++) {
                if (args[i].equals(flag)) {
                    return args[i + 1];
                }
            }
            String value = System.getenv(variable);
            return value == null || value.isBlank() ? fallback : value;
        }
    }
}
