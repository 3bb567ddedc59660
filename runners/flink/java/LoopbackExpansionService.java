// Starts Beam's ExpansionService bound to one host (default 127.0.0.1).
// Beam's own ExpansionService.main binds every interface; this does the same
// work through ExpansionServer.create(service, host, port).
//   java -cp <io-expansion-service jar>:<dir> LoopbackExpansionService PORT [pipeline options...]
// Host: -Dexpansion.host=127.0.0.1 (default).
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import org.apache.beam.sdk.expansion.service.ExpansionServer;
import org.apache.beam.sdk.expansion.service.ExpansionService;
import org.apache.beam.sdk.expansion.service.ExpansionServiceOptions;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

public class LoopbackExpansionService {
  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    String host = System.getProperty("expansion.host", "127.0.0.1");
    PipelineOptionsFactory.register(ExpansionServiceOptions.class);
    PipelineOptions options =
        PipelineOptionsFactory.fromArgs(Arrays.copyOfRange(args, 1, args.length)).create();
    ExpansionService service = new ExpansionService(options, host + ":" + port);
    ExpansionServer server = ExpansionServer.create(service, host, port);
    System.out.println("Expansion service listening at " + server.getHost() + ":" + server.getPort());
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try { server.close(); service.close(); } catch (Exception e) { /* exiting */ }
      done.countDown();
    }));
    done.await();
  }
}
