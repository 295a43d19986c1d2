package org.b12cds.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings.ClientIdStrategyEnum;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import java.util.Map;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcConnectionPool;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/** HAPI's JPA server for R4 on an in-memory H2 database: the beans HAPI's configuration expects from us. */
@Configuration
@Import({JpaR4Config.class, HapiJpaConfig.class, JpaBatch2Config.class, Batch2JobsConfig.class,
        SubscriptionChannelConfig.class, ThreadPoolFactoryConfig.class})
public class HapiConfig {

    /** Storage as the hapiproject/hapi image has it by default, ids chosen by clients allowed. */
    @Bean
    public JpaStorageSettings storageSettings() {
        JpaStorageSettings settings = new JpaStorageSettings();
        settings.setResourceClientIdStrategy(ClientIdStrategyEnum.ALPHANUMERIC);
        settings.setEnforceReferentialIntegrityOnWrite(false);
        settings.setEnforceReferentialIntegrityOnDelete(false);
        return settings;
    }

    @Bean
    public PartitionSettings partitionSettings() {
        return new PartitionSettings();
    }

    @Bean
    public SubscriptionSettings subscriptionSettings() {
        return new SubscriptionSettings();
    }

    @Bean(destroyMethod = "dispose")
    public JdbcConnectionPool dataSource() {
        return JdbcConnectionPool.create("jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1", "sa", "");
    }

    @Bean
    @Primary
    public LocalContainerEntityManagerFactoryBean entityManagerFactory(ConfigurableListableBeanFactory beans,
            FhirContext fhirContext, JpaStorageSettings storage, DataSource dataSource) {
        LocalContainerEntityManagerFactoryBean factory =
                HapiEntityManagerFactoryUtil.newEntityManagerFactory(beans, fhirContext, storage);
        factory.setPersistenceUnitName("HAPI_PU");
        factory.setDataSource(dataSource);
        factory.setJpaPropertyMap(Map.of(
                "hibernate.dialect", HapiFhirH2Dialect.class.getName(),
                "hibernate.hbm2ddl.auto", "update",
                "hibernate.jdbc.batch_size", "20",
                "hibernate.cache.use_query_cache", "false",
                "hibernate.cache.use_second_level_cache", "false",
                "hibernate.search.enabled", "false"));
        return factory;
    }

    @Bean
    @Primary
    public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
        return new JpaTransactionManager(entityManagerFactory);
    }

    /** The FHIR REST endpoint: every R4 resource type, the system operations, database-backed paging. */
    @Bean
    public RestfulServer restfulServer(FhirContext fhirContext, ResourceProviderFactory resourceProviders,
            JpaSystemProvider<?, ?> systemProvider, DatabaseBackedPagingProvider paging,
            IFhirSystemDao<?, ?> systemDao, ISearchParamRegistry searchParams, IValidationSupport validation,
            JpaStorageSettings storage, HapiServer.Settings settings) {
        RestfulServer server = new RestfulServer(fhirContext);
        server.registerProviders(resourceProviders.createProviders());
        server.registerProvider(systemProvider);
        paging.setDefaultPageSize(settings.pageSize());
        paging.setMaximumPageSize(settings.maxPageSize());
        server.setPagingProvider(paging);
        server.setServerConformanceProvider(
                new JpaCapabilityStatementProvider(server, systemDao, storage, searchParams, validation));
        return server;
    }
}
